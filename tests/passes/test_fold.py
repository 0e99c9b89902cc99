import numpy as np
import pytest

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.shapes import dim
from graphc.passes.fold import SMALL, fold_constants
from graphc.passes.pipeline import optimize


def ops(graph):
    return [n.op for n in graph.nodes()]


def test_a_constant_subgraph_becomes_one_constant():
    x = gc.tensor("x", (3,))
    c = gc.exp(gc.constant([0.0, 1.0, 2.0])) * 2.0 + gc.constant(1.0)
    graph = gc.Graph.of([x + c])
    folded = fold_constants(graph)
    assert ops(folded) == ["input", "constant", "elementwise"]
    const = folded.outputs[0].inputs[1]
    np.testing.assert_allclose(const.attrs["value"].array, np.exp([0.0, 1.0, 2.0]) * 2 + 1,
                               rtol=1e-6)
    feeds = {"x": np.arange(3, dtype=np.float32)}
    np.testing.assert_allclose(evaluate(folded.outputs, feeds, {})[0],
                               evaluate(graph.outputs, feeds, {})[0], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_folding_keeps_dtype_and_shape(dtype):
    c = gc.constant(np.arange(6).reshape(2, 3), dtype=dtype)
    node = gc.sum(c.T, axis=1, keepdims=True)
    folded = fold_constants(gc.Graph.of([node])).outputs[0]
    assert folded.op == "constant"
    assert folded.dtype == node.dtype == dtype and folded.shape == node.shape == (3, 1)
    np.testing.assert_array_equal(folded.attrs["value"].array, [[3], [5], [7]])


def test_symbolic_shapes_and_bodies_in_dims_are_not_folded():
    # the value of a broadcast to (B, 3), or of c / B, depends on the call
    c = gc.exp(gc.constant(0.0))
    wide = gc.broadcast_to(c, ("B", 3))
    per_b = gc.constant(2.0) / dim("B")
    folded = fold_constants(gc.Graph.of([wide, per_b]))
    out_wide, out_per_b = folded.outputs
    assert out_wide.op == "broadcast_to" and out_wide.inputs[0].op == "constant"
    assert out_wide.inputs[0].attrs["value"].array == 1.0  # the scalar under it did fold
    assert out_per_b.op == "elementwise"


def test_a_broadcast_that_would_make_a_large_constant_stays_a_broadcast():
    small = gc.broadcast_to(gc.constant([1.0, 2.0, 3.0]), (2, 3))
    big = gc.broadcast_to(gc.constant([3.0]), (SMALL + 1,))
    out_small, out_big = fold_constants(gc.Graph.of([small, big])).outputs
    assert out_small.op == "constant" and out_small.attrs["value"].array.shape == (2, 3)
    assert out_big.op == "broadcast_to" and out_big.inputs[0].shape == (1,)
    # a number broadcast is the uniform tensor simplify makes (x*0 -> zeros): it stays a view
    number = fold_constants(gc.Graph.of([gc.broadcast_to(gc.constant(3.0), (2, 3))]))
    assert [n.op for n in number.nodes()] == ["constant", "broadcast_to"]
    # an elementwise op of constants no larger than its largest input does fold
    row = gc.constant(np.ones(SMALL + 1, dtype=np.float32))
    assert fold_constants(gc.Graph.of([row * 2.0])).outputs[0].op == "constant"


def test_one_hot_of_constant_labels_folds():
    labels = gc.constant([0, 2, 1])
    node = gc.one_hot(labels, 3)
    folded = fold_constants(gc.Graph.of([node])).outputs[0]
    assert folded.op == "constant" and folded.dtype == "float32"
    np.testing.assert_array_equal(folded.attrs["value"].array, np.eye(3)[[0, 2, 1]])


def test_inputs_are_kept_even_when_unused_and_fold_is_recorded():
    x, unused = gc.tensor("x", (2,)), gc.tensor("unused", (2,))
    graph = gc.Graph.of([x * gc.exp(gc.constant(1.0))], inputs=[x, unused])
    out, report = optimize(graph, [fold_constants])
    assert out.inputs == (x, unused)
    assert report[0].changes == {"folded": 1}
    assert report[0].nodes_before == 4 and report[0].nodes_after == 3


def test_gradient_seed_chains_fold():
    # d/dx sum(tanh(x)) over a fixed shape: the seed's reshape and broadcast are constants
    x = gc.tensor("x", (5,))
    g = gc.grad(gc.sum(gc.tanh(x)), x)
    graph = gc.Graph.of([g])
    folded = fold_constants(graph)
    assert "reshape" not in ops(folded) and "broadcast_to" not in ops(folded)
    assert len(folded) < len(graph)
    feeds = {"x": np.linspace(-2, 2, 5).astype(np.float32)}
    np.testing.assert_allclose(evaluate(folded.outputs, feeds, {})[0],
                               1 - np.tanh(feeds["x"]) ** 2, rtol=1e-6)
