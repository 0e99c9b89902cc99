import numpy as np
import sympy

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.body import BodyBuilder, one_op
from graphc.ir.node import make
from graphc.ir.scalar import ScalarFn
from graphc.ir.shapes import dim
from graphc.ops import elementwise as ew
from graphc.passes.dce import eliminate_dead_code as dce
from graphc.passes.pipeline import optimize

x_, y_, z_ = sympy.symbols("x y z")
RNG = np.random.default_rng(2)


def every_operand_is_read(graph):
    for n in graph.nodes():
        if n.op == "elementwise":
            assert all(n.attrs["body"].reads()), n


def test_an_operand_no_body_reads_is_dropped_with_its_subgraph():
    a, b, w = gc.tensor("a", ("B", 3)), gc.tensor("b", ("B", 4)), gc.tensor("w", (4, 3))
    expensive = gc.tanh(b @ w)
    node = gc.apply(ScalarFn("first", (x_, y_), 2 * x_), a, expensive)
    raw = gc.Graph.of([node], inputs=[a, b, w])
    out, report = optimize(raw, [dce])
    assert len(raw) == 6 and len(out) == 2  # the matmul and tanh are gone
    assert report[0].changes == {"dead nodes removed": 4}
    assert out.inputs == (a, b, w)  # the calling convention stays
    every_operand_is_read(out)
    feeds = {"a": RNG.normal(size=(2, 3)).astype(np.float32),
             "b": RNG.normal(size=(2, 4)).astype(np.float32),
             "w": RNG.normal(size=(4, 3)).astype(np.float32)}
    np.testing.assert_allclose(evaluate(out.outputs, feeds, {dim("B"): 2})[0],
                               2 * feeds["a"])


def test_a_dropped_operand_that_set_the_shape_leaves_a_broadcast():
    a, b = gc.tensor("a", (3,)), gc.tensor("b", ("B", 3), dtype="float64")
    node = gc.apply(ScalarFn("first", (x_, y_), x_ + 1), a, gc.exp(b))
    out = dce(gc.Graph.of([node]))
    res = out.outputs[0]
    assert res.op == "broadcast_to" and res.shape == node.shape and res.dtype == node.dtype
    assert [n.op for n in out.nodes()].count("input") == 1  # b is no longer read
    value = evaluate(out.outputs, {"a": np.ones(3, np.float32)}, {dim("B"): 2})[0]
    assert value.shape == (2, 3) and value.dtype == np.float64 and (value == 2).all()


def test_a_body_reading_nothing_reads_no_operand():
    a = gc.tensor("a", (2, 3))
    node = gc.apply(ScalarFn("seven", (x_,), sympy.Integer(7)), gc.exp(a))
    out = dce(gc.Graph.of([node]))
    assert [n.op for n in out.nodes()] == ["elementwise", "broadcast_to"]
    assert out.nodes()[0].inputs == ()
    np.testing.assert_array_equal(evaluate(out.outputs, {}, {})[0], np.full((2, 3), 7.0))


def test_unread_extras_of_fused_nodes_are_dropped():
    a, w, e = gc.tensor("a", (2, 3)), gc.tensor("w", (3, 4)), gc.tensor("e", (2, 4))
    add_third = ScalarFn("add_third", (x_, y_, z_), x_ + z_)  # ignores y
    fc = make("fused_contraction", (a, w, gc.exp(e), e),
              contraction=("matmul",), fused=("matmul", "mul", "add"),
              epilogue=one_op(add_third, ["float32", "float32", "float32"]))
    b = BodyBuilder()
    p = b.param("float32")
    b.param("float32")  # read by nothing
    fr = make("fused_reduce", (a, gc.tanh(a)), reduce="sum", axes=(1,), keepdims=False,
              fused=("mul", "sum"), body=b.build(b.apply(ew.MUL, [p, p])))
    raw = gc.Graph.of([fc, fr])
    out = dce(raw)
    new_fc, new_fr = out.outputs
    assert new_fc.inputs == (a, w, e) and new_fc.attrs["epilogue"].n_params == 2
    assert new_fr.inputs == (a,) and new_fr.attrs["fused"] == ("mul", "sum")
    assert len(raw) - len(out) == 2
    feeds = {"a": RNG.normal(size=(2, 3)), "w": RNG.normal(size=(3, 4)),
             "e": RNG.normal(size=(2, 4))}
    for before, after in zip(evaluate(raw.outputs, feeds, {}), evaluate(out.outputs, feeds, {})):
        np.testing.assert_allclose(after, before, rtol=1e-6)


def test_after_dce_no_node_is_unreachable_and_a_graph_without_waste_is_unchanged():
    x = gc.tensor("x", ("B", 3))
    loss = gc.sum(gc.tanh(x) * x)
    g = gc.grad(loss, x)
    raw = gc.Graph.of([loss, g])
    out = dce(raw)
    assert out.outputs == raw.outputs  # nothing dead: the same nodes, not copies
    every_operand_is_read(out)


def test_an_unread_operand_that_shapes_a_reduction_stays():
    # sum over axis 0 of fn(a (3,), b (B, 3)): b makes axis 0 the batch; without it the
    # reduction would sum a different axis
    a, b = gc.tensor("a", (3,)), gc.tensor("b", ("B", 3))
    fr = make("fused_reduce", (a, gc.exp(b)), reduce="sum", axes=(0,), keepdims=False,
              fused=("mul", "sum"),
              body=one_op(ScalarFn("first", (x_, y_), 2 * x_), ["float32", "float32"]))
    out = dce(gc.Graph.of([fr]))
    assert out.outputs[0] is fr
