"""Graphviz export: valid DOT text (parsed by `dot` where it is installed), op / shape /
dtype in every label, gradient nodes coloured apart, render's files and its message when
Graphviz is missing. Mirrors graphc/viz/dot.py."""
import re
import shutil
import subprocess

import pytest

import graphc as gc
from graphc.viz import dot as dotmod


@pytest.fixture(scope="module")
def model():
    x = gc.tensor("x", ("B", 784))
    y = gc.tensor("y", ("B",), dtype="int64")
    W, b = gc.tensor("W", (784, 10)), gc.tensor("b", (10,))
    loss = gc.cross_entropy(x @ W + b, y)
    gW, gb = gc.grad(loss, [W, b])
    return loss, gW, gb


def _nodes(text):
    """node id -> its attribute text, for every `nK [...]` statement."""
    return dict(re.findall(r"^\s*(n\d+) \[(.*)\];$", text, flags=re.M))


def test_structure(model):
    text = gc.to_dot(list(model))
    assert text.startswith("digraph")
    assert text.count("{") == text.count("}") and text.rstrip().endswith("}")
    body = text[text.index("{") + 1:text.rindex("}")]
    assert "{" not in body.replace("\\{", "")  # no stray block: one graph
    nodes = _nodes(text)
    edges = re.findall(r"^\s*(n\d+) -> (n\d+)", text, flags=re.M)
    assert edges and all(a in nodes and b in nodes for a, b in edges)
    assert len(re.findall(r"-> out\d", text)) == 3  # one marker per output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_parses_it(model):
    res = subprocess.run(["dot", "-Tsvg"], input=gc.to_dot(list(model)), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "<svg" in res.stdout


def test_labels_show_op_shape_and_dtype(model):
    text = gc.to_dot(list(model))
    labels = [re.search(r'label="([^"]*)"', a).group(1) for a in _nodes(text).values()]
    assert any(lab.startswith("input x") and "(B, 784) float32" in lab for lab in labels)
    assert any(lab.startswith("input y") and "(B,) int64" in lab for lab in labels)
    assert any(lab.startswith("matmul") and "(B, 10) float32" in lab for lab in labels)
    assert any(lab.startswith("log_softmax axis=1") for lab in labels)
    assert any(lab.startswith("one_hot depth=10") for lab in labels)
    assert any(lab.startswith("add\\nx + y") for lab in labels)  # elementwise: name and body
    # every label ends in "shape dtype"
    assert all(re.search(r"\) (float32|float64|int64|bool)$", lab) for lab in labels)


def test_gradient_nodes_are_coloured_apart(model):
    loss, gW, gb = model
    text = gc.to_dot([loss, gW, gb])
    attrs = _nodes(text)
    fill = {k: re.search(r'fillcolor="([^"]+)"', a).group(1) for k, a in attrs.items()}
    grad_fill, fwd_fill = dotmod.COLORS["grad"], dotmod.COLORS["forward"]
    assert grad_fill != fwd_fill
    n_grad = sum(1 for f in fill.values() if f == grad_fill)
    n_fwd = sum(1 for f in fill.values() if f == fwd_fill)
    assert n_grad >= 5 and n_fwd >= 5
    # the forward graph alone has no gradient colour
    assert grad_fill not in gc.to_dot(loss)


def test_accepts_a_tensor_a_list_or_a_graph_and_a_title(model):
    loss = model[0]
    assert gc.to_dot(loss) == gc.to_dot([loss]) == gc.to_dot(gc.Graph.of([loss]))
    assert 'label="my \\"title\\""' in gc.to_dot(loss, title='my "title"')


def test_label_hooks_add_lines(model, monkeypatch):
    monkeypatch.setattr(dotmod, "LABEL_HOOKS", [lambda n: "HOOKED" if n.op == "matmul" else None])
    text = gc.to_dot(model[0])
    assert text.count("HOOKED") == 1


def test_render_writes_dot(tmp_path, model):
    written = gc.render(list(model), str(tmp_path / "g.dot"))
    assert written == [str(tmp_path / "g.dot")]
    assert (tmp_path / "g.dot").read_text() == gc.to_dot(list(model))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_writes_svg_when_graphviz_is_there(tmp_path, model):
    written = gc.render(model[0], str(tmp_path / "sub" / "g.svg"))
    assert written == [str(tmp_path / "sub" / "g.dot"), str(tmp_path / "sub" / "g.svg")]
    assert "<svg" in (tmp_path / "sub" / "g.svg").read_text()


def test_render_without_graphviz_says_so(tmp_path, model, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz") as info:
        gc.render(model[0], str(tmp_path / "g.png"))
    assert "g.dot" in str(info.value)
    assert (tmp_path / "g.dot").exists()  # the .dot is written all the same
    assert not (tmp_path / "g.png").exists()


def test_render_rejects_unknown_file_types(tmp_path, model):
    with pytest.raises(ValueError, match="unsupported file type '.jpg'"):
        gc.render(model[0], str(tmp_path / "g.jpg"))
