# The two commands the README opens with: `make demo` and `make test`.
# Each creates .venv if missing, installs graphc with its extras, then runs.
#   make test          the quick suite (under 2 minutes on 2 cores): skips tests marked `slow`
#   make test ALL=1    the whole suite, the long end-to-end example runs included (.ci/run)
#   make pictures      redraws the pictures in docs/pictures (README and tutorial show them)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.graphc-installed
# pytest's marker filter: everything with ALL=1, else all but the long runs
SELECT := $(if $(ALL),,-m "not slow")

.PHONY: demo test pictures bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,examples]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/mlp_digits.py

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile $(SELECT)

pictures: $(STAMP)
	$(PY) docs/pictures/make_pictures.py

bench: $(STAMP)
	$(PY) benchmarks/bench_train_step.py
	$(PY) benchmarks/bench_compile.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
