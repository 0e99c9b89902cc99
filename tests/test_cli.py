"""The `graphc` command, called in-process through graphc.cli.main and once as a process."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

import graphc as gc
from graphc.cli import main
from graphc.passes.pipeline import optimize
from graphc.viz import pictures

SCRIPT = textwrap.dedent("""
    import graphc as gc
    x = gc.tensor("x", ("B", "D")); W = gc.tensor("W", ("D", "E"))
    y = x @ W
    loss = gc.tanh(y).mean()
    pair = (loss, y)
    named = {"loss": loss, "y": y}
    graph = gc.Graph.of([loss])
    compiled = gc.compile(loss)
    number = 3

    def build():
        return gc.tanh(x @ W).sum()

    def needs(a, b):
        return a @ b

    def broken():
        return 1 / 0

    if __name__ == "__main__":
        raise SystemExit("the script part must not run when graphc loads the file")
""")


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(SCRIPT)
    return "model.py"


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(capsys, args, *fragments):
    code, out, err = cli(capsys, *args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"graphc {args[0]}: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, err
    return err


def load(script_text, name):
    ns: dict = {}
    exec(compile(script_text.replace('__name__ == "__main__"', "False"), "model.py", "exec"), ns)
    return ns[name]


# ---- dot ---------------------------------------------------------------------------------------
def test_dot_prints_the_graph_to_stdout(script, capsys):
    code, out, _ = cli(capsys, "dot", f"{script}:y")
    assert code == 0
    assert out.startswith("digraph graphc {")
    assert "input x" in out and "input W" in out and "(B, E) float32" in out
    assert "#fde2c4" not in out  # no backward nodes without --grad


@pytest.mark.parametrize("obj", ["loss", "pair", "named", "graph", "compiled", "build"])
def test_dot_accepts_every_kind_of_target(script, capsys, obj):
    code, out, _ = cli(capsys, "dot", f"{script}:{obj}")
    assert code == 0 and "digraph" in out
    assert "tanh" in out


def test_dot_grad_adds_the_backward_graph(script, capsys, tmp_path):
    code, out, _ = cli(capsys, "dot", f"{script}:loss", "--grad", "-o", "g.dot")
    assert code == 0
    text = (tmp_path / "g.dot").read_text()
    assert "#fde2c4" in text  # the backward nodes' colour
    assert "dtanh/dx" in text
    # loss plus one gradient per float input (x and W), each named for what it is
    assert len(re.findall(r"-> out\d+ \[style=dashed\]", text)) == 3
    for name in ("loss", "grad x", "grad W"):
        assert f'[label="{name}", shape=plaintext]' in text
    assert "wrote g.dot" in out and "backward" in out


def test_dot_grad_of_a_non_scalar_output_differentiates_its_sum(script, capsys, tmp_path):
    code, out, err = cli(capsys, "dot", f"{script}:y", "--grad")
    assert code == 0 and out.startswith("digraph")
    assert "differentiating its sum" in err and "(B, E)" in err
    code, out, err = cli(capsys, "dot", f"{script}:y", "--grad", "-o", "y.dot")
    assert "#fde2c4" in (tmp_path / "y.dot").read_text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("ext,magic", [(".svg", b"<svg"), (".png", b"\x89PNG")])
def test_dot_writes_svg_and_png_by_extension(script, capsys, tmp_path, ext, magic):
    code, out, _ = cli(capsys, "dot", f"{script}:loss", "-o", "g" + ext)
    assert code == 0
    assert magic in (tmp_path / ("g" + ext)).read_bytes()[:400]
    assert (tmp_path / "g.dot").exists()


def test_dot_optimized_stage_draws_the_pipeline_output(script, capsys):
    code, out, _ = cli(capsys, "dot", f"{script}:loss", "--grad", "--stage", "optimized",
                       "--title", "t")
    assert code == 0
    loss = load(SCRIPT, "loss")
    wrt = [i for i in gc.Graph.of([loss]).inputs]
    assert out == gc.to_dot([loss] + gc.grad(loss, wrt), title="t", stage="optimized")
    graph, _ = optimize(gc.Graph.of([loss] + gc.grad(loss, wrt)))
    assert out.count("peripheries=2") == sum("fused" in n.attrs for n in graph.nodes()) > 0


def test_dot_calls_a_function_on_the_declared_inputs(script, capsys):
    code, out, _ = cli(capsys, "dot", f"{script}:needs", "--input", "a=B,4", "-i",
                       "b=4,N:float64")
    assert code == 0
    assert "input a" in out and "(B, 4) float32" in out and "(4, N) float64" in out
    assert "(B, N) float64" in out


def test_dot_loads_an_importable_module(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "graphs.py").write_text(SCRIPT)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = cli(capsys, "dot", "mypkg.graphs:loss")
    assert code == 0 and "tanh" in out


def test_dot_draws_a_model_called_on_an_input(tmp_path, monkeypatch, capsys):
    nn = pytest.importorskip("graphc.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("gc.nn.Linear is not there yet")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(
        "import graphc as gc\nnet = gc.nn.Sequential(gc.nn.Linear(6, 5), gc.nn.ReLU(), "
        "gc.nn.Linear(5, 2))\ndef make():\n    return net\n")
    # the line ends at "x=B,6": the old hint was always "x=B,64", which contains "x=B,6" too
    code, _, err = cli(capsys, "dot", "net.py:net")
    assert code == 2 and "gc.nn.Module" in err and err.endswith("--input x=B,6\n"), err
    for obj in ("net", "make"):
        code, out, err = cli(capsys, "dot", f"net.py:{obj}", "--input", "x=B,6", "--grad")
        assert code == 0, err
        assert "(B, 6) float32" in out and "(B, 2) float32" in out and "#fde2c4" in out


def test_a_model_without_input_gets_a_hint_named_after_its_forward(tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lm.py").write_text(
        "import graphc as gc\n"
        "class LM(gc.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.emb, self.head = gc.nn.Embedding(20, 8), gc.nn.Linear(8, 20)\n"
        "    def forward(self, ids):\n"
        "        return self.head(self.emb(ids))\n"
        "lm = LM()\n")
    assert_error(capsys, ["dot", "lm.py:lm"], "--input ids=B,T:int64")
    code, out, err = cli(capsys, "dot", "lm.py:lm", "--input", "ids=B,T:int64")
    assert code == 0 and "(B, T, 20) float32" in out, err


# ---- cost and explain --------------------------------------------------------------------------
def test_cost_prints_symbolic_flops(script, capsys):
    code, out, _ = cli(capsys, "cost", f"{script}:y")
    assert code == 0
    assert "2*B*D*E" in out
    assert out.strip() == str(gc.cost([load(SCRIPT, "y")])).strip()


@pytest.mark.parametrize("stage", ["raw", "optimized"])
def test_cost_of_one_stage_is_that_report_table(script, capsys, stage):
    code, out, _ = cli(capsys, "cost", f"{script}:loss", "--grad", "--stage", stage)
    assert code == 0
    loss = load(SCRIPT, "loss")
    outputs = [loss] + gc.grad(loss, list(gc.Graph.of([loss]).inputs))
    assert out.strip() == getattr(gc.cost(outputs), stage).table().strip()
    assert "B*D*E" in out


def test_explain_prints_gc_explain(script, capsys):
    code, out, _ = cli(capsys, "explain", f"{script}:loss")
    assert code == 0 and out.strip()
    assert out.strip() == str(gc.explain([load(SCRIPT, "loss")])).strip()


# ---- run ---------------------------------------------------------------------------------------
RUNNABLE = textwrap.dedent("""
    import argparse, sys
    from helper import GREETING
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="default")
    p.add_argument("--steps", type=int, default=100)
    a = p.parse_args()
    print(f"{GREETING} __name__={__name__} backend={a.backend} steps={a.steps}")
    sys.exit(a.steps if a.steps > 50 else 0)
""")


@pytest.fixture
def runnable(tmp_path):
    (tmp_path / "helper.py").write_text("GREETING = 'hello'\n")
    (tmp_path / "ex.py").write_text(RUNNABLE)
    return str(tmp_path / "ex.py")


def test_run_passes_the_backend_and_extra_arguments(runnable, capsys):
    before = list(sys.argv)
    code, out, _ = cli(capsys, "run", runnable, "--backend", "reference", "--", "--steps", "3")
    assert code == 0
    assert out.strip() == "hello __name__=__main__ backend=reference steps=3"
    assert sys.argv == before


def test_run_returns_the_scripts_exit_status(runnable, capsys):
    code, out, _ = cli(capsys, "run", runnable)
    assert code == 100 and "backend=default steps=100" in out
    code, out, _ = cli(capsys, "run", runnable, "--steps", "7", "--backend=reference")
    assert code == 0 and "backend=reference steps=7" in out


def test_bench_hands_every_argument_to_benchmarks_run_py(capfd):
    code = main(["bench", "--help"])  # run.py's --help, not graphc's (a subprocess: capfd)
    out, _ = capfd.readouterr()
    assert code == 0 and "usage: benchmarks/run.py" in out and "--quick" in out


def test_bench_outside_a_source_checkout_says_where_the_benchmarks_are(tmp_path, monkeypatch,
                                                                        capsys):
    import graphc.cli as cli_module
    monkeypatch.setattr(cli_module, "bench_script", lambda: str(tmp_path / "run.py"))
    assert_error(capsys, ["bench", "--quick"], "the benchmarks are not here",
                 "source checkout")


# ---- errors: one line on stderr, status 2 ------------------------------------------------------
def test_errors_name_the_problem(script, runnable, capsys):
    assert_error(capsys, ["dot", "missing.py:y"], "no such file: missing.py")
    assert_error(capsys, ["dot", "no_such_module_here:y"], "no_such_module_here")
    err = assert_error(capsys, ["dot", f"{script}:nope"], "has no object 'nope'")
    assert "loss" in err and "build" in err  # it lists what the script does define
    assert_error(capsys, ["dot", f"{script}:number"], "is an int, not a graph or model")
    assert_error(capsys, ["dot", script], "SCRIPT_OR_MODULE:OBJECT")
    assert_error(capsys, ["dot", f"{script}:needs"], "takes arguments (a, b)", "--input")
    assert_error(capsys, ["dot", f"{script}:build", "-i", "x=3"], "is a graph already")
    assert_error(capsys, ["dot", f"{script}:loss", "-i", "x=3"], "is a graph already")
    assert_error(capsys, ["dot", f"{script}:needs", "-i", "a=B,?"], "number or a name")
    assert_error(capsys, ["dot", f"{script}:needs", "-i", "a"], "NAME=SHAPE")
    assert_error(capsys, ["dot", f"{script}:broken"], "ZeroDivisionError", "model.py, line")
    assert_error(capsys, ["dot", f"{script}:loss", "-o", "g.jpg"], "'.jpg'")
    assert_error(capsys, ["run", "missing.py"], "no such file")
    assert_error(capsys, ["run", runnable, "--backend", "tpu"],
                 "backend 'tpu' is not available here", "reference")


def test_a_failing_script_is_reported_with_its_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text("import graphc as gc\nx = gc.tensor('x', (3,))\n"
                                     "y = x @ gc.tensor('W', (4, 2))\n")
    assert_error(capsys, ["dot", "bad.py:y"], "ShapeError", "bad.py, line 3")


def test_usage_errors_return_status_2(capsys):
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# ---- as a process ------------------------------------------------------------------------------
def test_python_dash_m_graphc(script, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    ok = subprocess.run([sys.executable, "-m", "graphc", "dot", f"{script}:loss", "-o", "p.dot"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "p.dot").read_text().startswith("digraph")
    exe = shutil.which("graphc", path=os.path.dirname(sys.executable))
    command = [exe] if exe else [sys.executable, "-m", "graphc"]
    bad = subprocess.run(command + ["dot", "missing.py:x"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr == "graphc dot: error: no such file: missing.py\n"


def test_run_an_example_in_process(tmp_path, monkeypatch, capsys):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GRAPHC_OUT", str(tmp_path))
    code, out, _ = cli(capsys, "run", "examples/linear_regression.py", "--backend", "reference",
                       "--", "--steps", "300")
    assert code == 0
    assert "backend reference" in out and "OK: recovered the true W and b" in out
    assert (tmp_path / "linear_regression" / "loss.png").exists()


# ---- pictures without Graphviz, named outputs, modules as boxes --------------------------------
def test_dot_draws_a_picture_without_graphviz(script, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
    for ext, magic in ((".svg", b"<svg"), (".png", b"\x89PNG")):
        code, out, err = cli(capsys, "dot", f"{script}:loss", "--grad", "-o", "g" + ext)
        assert code == 0, err
        assert magic in (tmp_path / ("g" + ext)).read_bytes()[:400]
        assert "by graphc's layout (Graphviz's dot is not installed)" in out
    assert "grad W" in (tmp_path / "g.svg").read_text()  # the outputs are named in the picture


def test_dot_names_a_dicts_outputs_by_its_keys(script, capsys):
    code, out, _ = cli(capsys, "dot", f"{script}:named")
    assert code == 0
    assert '[label="loss", shape=plaintext]' in out and '[label="y", shape=plaintext]' in out


def test_dot_collapses_modules(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(
        "import graphc as gc\nnet = gc.nn.Sequential(gc.nn.Linear(6, 5), gc.nn.ReLU(), "
        "gc.nn.Linear(5, 2))\n")
    code, out, err = cli(capsys, "dot", "net.py:net", "-i", "x=B,6", "--grad",
                         "--collapse-depth", "1")
    assert code == 0, err
    assert out.count("penwidth=2.5") == 6  # 3 modules forward, 3 backward (relu's too)
    code, out, err = cli(capsys, "dot", "net.py:net", "-i", "x=B,6", "--collapse", "0,2")
    assert code == 0, err
    assert out.count("penwidth=2.5") == 2 and "subgraph cluster_forward_1" in out
    assert_error(capsys, ["dot", "net.py:net", "-i", "x=B,6", "--collapse", "fc9"],
                 "no module 'fc9'", "its modules are: 0, 1, 2")
    assert_error(capsys, ["dot", "net.py:net", "-i", "x=B,6", "--collapse-depth", "0"],
                 "at least 1")


# ---- user errors of the first hour: one line, status 2, never a traceback ----------------------
def test_an_unwritable_output_path_is_one_line(script, capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    assert_error(capsys, ["dot", f"{script}:loss", "-o", "afile/g.svg"],
                 "cannot write afile/g.svg")


def test_an_output_that_is_a_directory_is_refused(script, capsys, tmp_path):
    (tmp_path / "pictures").mkdir()
    assert_error(capsys, ["dot", f"{script}:loss", "-o", "pictures"],
                 "'pictures' is a directory; give a file name")
    assert os.listdir(tmp_path / "pictures") == [] and not (tmp_path / "pictures.dot").exists()


def test_a_target_calling_sys_exit_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quits.py").write_text("import sys\ndef build():\n    sys.exit(3)\n")
    assert_error(capsys, ["dot", "quits.py:build"], "exited (status 3)")


def test_a_syntax_error_names_the_scripts_line_only(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "typo.py").write_text("import graphc as gc\nx = gc.tensor('x', (3,)\n")
    err = assert_error(capsys, ["dot", "typo.py:x"], "SyntaxError", "(typo.py, line 2)")
    assert "importlib" not in err and "frozen" not in err


def test_a_graph_too_deep_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.py").write_text(
        "import graphc as gc\ny = gc.tensor('x', (3,))\nfor _ in range(600):\n"
        "    y = gc.tanh(y)\nloss = y.sum()\n")
    monkeypatch.setattr(sys, "getrecursionlimit", lambda: 200)  # only what the message says
    import graphc.cli as cli_module

    def too_deep(args):
        def recurse(k):
            return recurse(k + 1)
        return recurse(0)
    monkeypatch.setitem(cli_module.COMMANDS, "explain", too_deep)
    assert_error(capsys, ["explain", "deep.py:loss"], "the graph is too deep for graphc's",
                 "recursion limit is 200")
