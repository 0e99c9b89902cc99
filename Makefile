# The two commands the README opens with: `make demo` and `make test`.
# Each creates .venv if missing, installs graphc with its extras, then runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.graphc-installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,examples]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/mlp_digits.py

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) benchmarks/bench_train_step.py
	$(PY) benchmarks/bench_compile.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
