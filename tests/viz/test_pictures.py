"""gc.render (graphc/viz/pictures.py): a picture is always made. With Graphviz's `dot` on
PATH it draws (here a stand-in `dot` records how it was called); without it graphc's own
layout and matplotlib draw the same boxes, names and legend."""
import os
import stat
import sys
import textwrap

import pytest

import graphc as gc
from graphc.viz import pictures

PNG, SVG = b"\x89PNG", b"<svg"


@pytest.fixture(scope="module")
def model():
    x = gc.tensor("x", ("B", 6))
    y = gc.tensor("y", ("B",), dtype="int64")
    W, b = gc.tensor("W", (6, 3)), gc.tensor("b", (3,))
    loss = gc.cross_entropy(gc.relu(x @ W + b), y)
    return [loss, *gc.grad(loss, [W, b])]


@pytest.fixture
def no_graphviz(monkeypatch):
    monkeypatch.setattr(pictures.shutil, "which", lambda name: None)


@pytest.fixture
def fake_graphviz(tmp_path, monkeypatch):
    """A `dot` on PATH that writes a tiny SVG holding its input, and logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "dot.log"
    exe = bin_dir / "dot"
    exe.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        args = sys.argv[1:]
        open({str(log)!r}, "a").write(" ".join(args) + "\\n")
        text = open(args[1]).read()
        if "FAIL_PLEASE" in text:
            sys.exit("Error: syntax error in line 1")
        open(args[args.index("-o") + 1], "w").write("<svg>" + text + "</svg>")
        """))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.parametrize("ext,magic", [(".svg", SVG), (".png", PNG), (".pdf", b"%PDF")])
def test_without_graphviz_the_builtin_layout_draws(tmp_path, model, no_graphviz, ext, magic):
    path = tmp_path / "sub" / ("g" + ext)
    written = gc.render(model, path, title="cross-entropy")
    assert written == [str(tmp_path / "sub" / "g.dot"), str(path)]
    assert magic in path.read_bytes()[:1024]
    assert (tmp_path / "sub" / "g.dot").read_text() == gc.to_dot(model, title="cross-entropy")


def test_the_builtin_svg_shows_the_same_labels_names_and_legend(tmp_path, model, no_graphviz):
    gc.render(model, tmp_path / "g.svg", title="my title")
    svg = (tmp_path / "g.svg").read_text()
    for text in ("my title", "input x", "x @ y", "relu", "log_softmax(axis=1)", "loss", "grad W",
                 "grad b", "forward op", "backward op (gc.grad)", "(B, 3) float32"):
        assert text in svg, text
    assert "Piecewise" not in svg


def test_with_graphviz_dot_draws(tmp_path, model, fake_graphviz):
    written = gc.render(model, tmp_path / "g.png")
    assert written == [str(tmp_path / "g.dot"), str(tmp_path / "g.png")]
    assert fake_graphviz.read_text().split() == ["-Tpng", str(tmp_path / "g.dot"), "-o",
                                                 str(tmp_path / "g.png")]
    assert "digraph graphc" in (tmp_path / "g.png").read_text()


def test_engine_builtin_ignores_graphviz_and_graphviz_needs_it(tmp_path, model, fake_graphviz,
                                                               monkeypatch):
    gc.render(model, tmp_path / "b.svg", engine="builtin")
    assert not fake_graphviz.exists() and SVG in (tmp_path / "b.svg").read_bytes()[:1024]
    monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz's `dot` program, which is not installed"):
        gc.render(model, tmp_path / "c.svg", engine="graphviz")
    assert (tmp_path / "c.dot").exists() and not (tmp_path / "c.svg").exists()
    with pytest.raises(ValueError, match="engine must be one of auto, graphviz, builtin"):
        gc.render(model, tmp_path / "d.svg", engine="tikz")


def test_a_graphviz_failure_says_why(tmp_path, model, fake_graphviz):
    with pytest.raises(RuntimeError, match="dot could not draw .*: Error: syntax error"):
        gc.render(model, tmp_path / "g.svg", title="FAIL_PLEASE")


def test_render_writes_dot_only_when_asked(tmp_path, model):
    assert gc.render(model, tmp_path / "g.dot") == [str(tmp_path / "g.dot")]
    assert gc.render(model, tmp_path / "plain") == [str(tmp_path / "plain.dot")]


def test_render_refuses_unknown_types_and_directories(tmp_path, model):
    with pytest.raises(ValueError, match="unsupported file type '.jpg'"):
        gc.render(model, tmp_path / "g.jpg")
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory; give a file name"):
        gc.render(model, tmp_path / "out")
    assert os.listdir(tmp_path) == ["out"]  # nothing written next to it


def test_render_draws_a_compiled_function_collapsed(tmp_path, no_graphviz):
    gc.nn.manual_seed(0)
    net = gc.nn.Sequential(gc.nn.Linear(4, 8), gc.nn.ReLU(), gc.nn.Linear(8, 2))
    x, y = gc.tensor("x", ("B", 4)), gc.tensor("y", ("B", 2))
    step = gc.train_step(gc.mse_loss(net(x), y), gc.optim.SGD(net.parameters(), lr=0.1))
    gc.render(step, tmp_path / "step.svg", stage="raw", collapse=1)
    svg = (tmp_path / "step.svg").read_text()
    assert "0 (backward)" in svg and "a module drawn as one box" in svg
