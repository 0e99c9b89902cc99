"""Graphviz export (graphc/viz/dot.py): valid DOT text (parsed by `dot` where it is installed),
labels as a user wrote the ops with shape and dtype, gradient nodes coloured apart, named
outputs, a legend, and what can be drawn. Mirrors graphc/viz/dot.py and labels.py."""
import re
import shutil
import subprocess

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.viz import dot as dotmod
from graphc.viz import labels


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


def _labels(text):
    return [re.search(r'label="([^"]*)"', a).group(1) for a in _nodes(text).values()]


def test_structure(model):
    text = gc.to_dot(list(model))
    assert text.startswith("digraph")
    assert text.count("{") == text.count("}") and text.rstrip().endswith("}")
    nodes = _nodes(text)
    edges = re.findall(r"^\s*(n\d+) -> (n\d+)", text, flags=re.M)
    assert edges and all(a in nodes and b in nodes for a, b in edges)
    assert len(re.findall(r"-> out\d+ \[style=dashed\]", text)) == 3  # one per output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_parses_it(model):
    res = subprocess.run(["dot", "-Tsvg"], input=gc.to_dot(list(model)), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "<svg" in res.stdout


def test_ops_are_labelled_as_a_user_wrote_them(model):
    found = _labels(gc.to_dot(list(model)))
    for expected in ("input x\\n(B, 784) float32", "input y\\n(B,) int64",
                     "x @ y\\n(B, 10) float32", "x + y\\n(B, 10) float32",
                     "log_softmax(axis=1)\\n(B, 10) float32",
                     "one_hot(depth=10)\\n(B, 10) bool", "where(y, x, 0.0)\\n(B, 10) float32"):
        assert expected in found, (expected, found)
    assert all(re.search(r"\) (float32|float64|int64|bool)$", lab) for lab in found)
    assert not any("Piecewise" in lab or "log(" in lab for lab in found)


def test_elementwise_titles():
    x, y = gc.tensor("x", (3,)), gc.tensor("y", (3,))
    assert labels.title(gc.relu(x)) == "relu"
    assert labels.title(x - y) == "x - y" and labels.title(x / y) == "x / y"
    assert labels.title(x * 2.0) == "x * 2.0"  # a literal operand, as the user wrote it
    assert labels.title(-x) == "-x"
    smooth = gc.elementwise(lambda a, b: sympy.log(sympy.exp(a) + sympy.exp(b)), "smooth_max")
    assert labels.title(smooth(x, y)) == "smooth_max(x, y)"
    assert labels.title(gc.relu(x).sum(axis=0, keepdims=True)) == "sum(axis=0, keepdims)"
    # the relu body is sympy Piecewise: it never reaches a label
    assert "Piecewise" not in gc.to_dot(gc.relu(x - y))


def test_edges_say_which_operand_where_order_matters():
    x, y = gc.tensor("x", ("B", 3)), gc.tensor("y", ("B", 3))
    text = gc.to_dot((x - y).sum())
    assert re.search(r'-> n\d+ \[label="x"\]', text) and re.search(r'-> n\d+ \[label="y"\]', text)
    assert "label=\"x\"" not in gc.to_dot((x + y).sum())  # x + y = y + x: no labels
    W = gc.tensor("W", (3, 4))
    einsum = gc.to_dot(gc.einsum("bd,de->be", x, W))
    assert '[label="bd"]' in einsum and '[label="de"]' in einsum


def test_gradient_nodes_are_coloured_apart(model):
    loss, gW, gb = model
    fill = {k: re.search(r'fillcolor="([^"]+)"', a).group(1)
            for k, a in _nodes(gc.to_dot([loss, gW, gb])).items()}
    grad_fill, fwd_fill = labels.FILL["grad"], labels.FILL["forward"]
    assert sum(f == grad_fill for f in fill.values()) >= 5
    assert sum(f == fwd_fill for f in fill.values()) >= 5
    assert grad_fill not in _nodes(gc.to_dot(loss)).__repr__()


def test_outputs_are_named_loss_and_grad(model):
    text = gc.to_dot(list(model))
    assert re.findall(r'out\d+ \[label="([^"]+)", shape=plaintext\]', text) == \
        ["loss", "grad W", "grad b"]
    x = gc.tensor("x", (3,))
    assert 'label="output 0"' in gc.to_dot(gc.exp(x))  # nothing says what it is
    named = gc.to_dot({"probabilities": gc.exp(x), "total": gc.exp(x).sum()})
    assert 'label="probabilities"' in named and 'label="total"' in named
    assert 'label="my loss"' in gc.to_dot(model[0], names=["my loss"])
    with pytest.raises(ValueError, match="2 names for 3 outputs"):
        gc.to_dot(list(model), names=["a", "b"])


def test_the_legend_says_what_the_drawing_shows(model):
    legend = re.search(r"legend \[shape=plaintext, label=<(.*)>\];", gc.to_dot(list(model)))
    text = legend.group(1)
    for entry in ("input", "forward op", "backward op (gc.grad)", "edge label",
                  "an output, named"):
        assert entry in text
    assert "fused kernel" not in text  # a raw graph has none
    assert "backward op" not in gc.to_dot(model[0])


def test_accepts_a_tensor_a_list_a_graph_a_dict_and_a_title(model):
    loss = model[0]
    assert gc.to_dot(loss) == gc.to_dot([loss]) == gc.to_dot(gc.Graph.of([loss]))
    assert gc.to_dot({"loss": loss}) == gc.to_dot(loss)
    assert 'label="my \\"title\\""' in gc.to_dot(loss, title='my "title"')


def test_accepts_a_compiled_function_at_either_stage(model):
    f = gc.compile(list(model))
    compiled = gc.to_dot(f)  # a compiled function: what it runs
    assert compiled == gc.to_dot(f, stage="optimized") == \
        gc.to_dot(list(model), stage="optimized")
    assert "peripheries=2" in compiled  # fused kernels
    assert gc.to_dot(f, stage="raw") == gc.to_dot(list(model))
    assert 'label="grad W"' in compiled  # named as built, through the optimizer
    with pytest.raises(ValueError, match="stage must be 'raw' or 'optimized'"):
        gc.to_dot(f, stage="fused")


def test_accepts_train_steps_and_nn_functions():
    gc.nn.manual_seed(0)
    model = gc.nn.Linear(3, 2)
    x, y = gc.tensor("x", ("B", 3)), gc.tensor("y", ("B", 2))
    step = gc.train_step(gc.mse_loss(model(x), y), gc.optim.SGD(model.parameters(), lr=0.1))
    text = gc.to_dot(step)
    assert 'label="loss"' in text and f'label="new {model.weight.name}"' in text
    assert "input x" in gc.to_dot(gc.nn.function(model(x)))
    step(x=np.ones((4, 3), np.float32), y=np.ones((4, 2), np.float32))  # still runs


@pytest.mark.parametrize("bad", [3, "x", [], [1, 2], None])
def test_anything_else_is_a_clear_error(bad):
    with pytest.raises(TypeError, match=r"cannot draw \w+: expected a graphc tensor"):
        gc.to_dot(bad)


def test_label_hooks_add_lines(model, monkeypatch):
    monkeypatch.setattr(dotmod, "LABEL_HOOKS", [lambda n: "HOOKED" if n.op == "matmul" else None])
    text = gc.to_dot(model[0])
    assert text.count("HOOKED") == 1
