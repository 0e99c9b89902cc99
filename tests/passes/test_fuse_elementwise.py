"""fuse_elementwise: chains become one straight-line body, reductions take their producers
as a prologue, the fan-out rule stores what several kernels read (and recomputes what is
cheap), views are seen through, results are kept bit for bit (statements are copied, never
composed), and unfused_reasons says why. Mirrors graphc/passes/fuse_elementwise.py."""
import numpy as np
import pytest
from hypothesis import given

import graphc as gc
from fusion_models import B, assert_same, feeds_for
from graphc.backend.reference import evaluate
from graphc.passes.fuse_elementwise import (MAX_KERNEL_OPS, fuse_elementwise, plan,
                                            unfused_reasons)
from graphc.passes.kernels import kernels
from strategies import random_graph


def _fuse(*outputs):
    raw = gc.Graph.of(outputs)
    return raw, fuse_elementwise(raw)


def _kinds(graph):
    return [(n.op, n.attrs.get("fused")) for n in kernels(graph)]


def test_a_chain_becomes_one_kernel_with_one_body():
    x, b = gc.tensor("x", ("B", 8)), gc.tensor("b", (8,))
    raw, fused = _fuse(gc.tanh(gc.relu(x + b) * 2.0))
    assert _kinds(fused) == [("elementwise", ("add", "relu", "mul", "tanh"))]
    (k,) = kernels(fused)
    assert k.attrs["body"].name == "fused" and list(k.inputs) == [x, b]
    assert k.attrs["body"].lines() == ["t2 = x0 + x1", "t3 = relu(t2)", "t4 = t3 * 2.0",
                                       "t5 = tanh(t4)", "return t5"]
    assert_same(raw, fused, *feeds_for(raw))


def test_mean_squared_error_is_one_fused_reduce():
    a, t = gc.tensor("a", ("B", 4)), gc.tensor("t", ("B", 4))
    raw, fused = _fuse(gc.mse_loss(a, t))
    # the division by the count stays after the sum (fuse_reduce_epilogue makes it the
    # reduction's epilogue): sum(x) / n is not sum(x / n) in floats
    assert _kinds(fused) == [("fused_reduce", ("sub", "mul", "sum")), ("elementwise", None)]
    red = kernels(fused)[0]
    assert red.attrs["reduce"] == "sum" and red.attrs["axes"] == (0, 1)
    assert red.attrs["body"].lines() == ["t2 = x0 - x1", "t3 = t2 * t2", "return t3"]
    assert_same(raw, fused, *feeds_for(raw))


def test_cross_entropy_forward():
    logits, y = gc.tensor("logits", ("B", 10)), gc.tensor("y", ("B",), dtype="int64")
    raw, fused = _fuse(gc.cross_entropy(logits * 1.5, y))
    # logits*1.5 feeds the log_softmax kernel, which reads it from memory; the label's
    # log-probability is selected and summed, negated and divided by the count
    assert _kinds(fused) == [("elementwise", None), ("log_softmax", None), ("one_hot", None),
                             ("fused_reduce", ("where", "sum")), ("elementwise", ("neg", "div"))]
    assert_same(raw, fused, *feeds_for(raw))


def test_a_cheap_op_read_by_two_kernels_is_computed_in_each():
    x = gc.tensor("x", ("B", 6))
    t = x - gc.max(x, axis=1, keepdims=True)  # one subtraction, read by two reductions
    raw, fused = _fuse(gc.sum(gc.exp(t), axis=1), gc.sum(t * t, axis=1))
    assert _kinds(fused) == [("max", None), ("fused_reduce", ("sub", "exp", "sum")),
                             ("fused_reduce", ("sub", "mul", "sum"))]
    assert_same(raw, fused, *feeds_for(raw))
    e = gc.exp(x)  # an exp is not cheap: stored once, read twice
    raw, fused = _fuse(gc.sum(e, axis=1), gc.max(e, axis=1))
    assert _kinds(fused) == [("elementwise", None), ("sum", None), ("max", None)]


def test_log_sum_exp_by_hand_fuses_exp_into_the_sum():
    x = gc.tensor("x", ("B", 6))
    m = gc.max(x, axis=1, keepdims=True)
    raw, fused = _fuse(gc.log(gc.sum(gc.exp(x - m), axis=1, keepdims=True)) + m)
    assert _kinds(fused) == [("max", None), ("fused_reduce", ("sub", "exp", "sum")),
                             ("elementwise", ("log", "add"))]
    assert_same(raw, fused, *feeds_for(raw))


def test_softmax_stores_what_two_kernels_read():
    x = gc.tensor("x", ("B", 6))
    e = gc.exp(x - gc.max(x, axis=1, keepdims=True))
    raw, fused = _fuse(e / gc.sum(e, axis=1, keepdims=True))
    # e feeds the sum and the division: computing exp twice is what the rule forbids
    assert _kinds(fused) == [("max", None), ("elementwise", ("sub", "exp")), ("sum", None),
                             ("elementwise", None)]
    assert unfused_reasons(raw)[id(raw.outputs[0])].startswith("feeds a graph output; "
                                                               "nothing elementwise feeds it")
    assert_same(raw, fused, *feeds_for(raw))


def test_softmax_gradient_fuses_through_reshape_and_broadcast_views():
    x, w = gc.tensor("x", ("B", 5), "float64"), gc.tensor("w", ("B", 5), "float64")
    (gx,) = gc.grad(gc.sum(gc.softmax(x) * w), [x])
    raw, fused = _fuse(gx)
    assert len(kernels(fused)) < len(kernels(raw))
    # the backward of the sum reshapes (B,) to (B, 1) and broadcasts: no kernel boundary
    assert [k for k in _kinds(fused) if k[0] == "elementwise"] == [
        ("elementwise", ("dmul/dx", "sub", "mul"))]
    assert_same(raw, fused, *feeds_for(raw))


def test_unit_reshape_is_replayed_on_the_leaves():
    x = gc.tensor("x", ("B", 4))
    s = gc.sum(x, axis=1)  # (B,)
    raw, fused = _fuse(gc.exp(x - gc.reshape(s * 2.0, (B, 1))))
    assert _kinds(fused) == [("sum", None), ("elementwise", ("mul", "sub", "exp"))]
    leaf = [i for i in kernels(fused)[1].inputs if i is not x][0]
    assert leaf.op == "reshape" and leaf.shape == (B, 1) and leaf.inputs[0].op == "sum"
    assert_same(raw, fused, *feeds_for(raw))


def test_a_reshape_that_regroups_axes_is_a_boundary():
    x = gc.tensor("x", (3, 4))
    t = gc.tanh(x)
    raw, fused = _fuse(gc.exp(gc.reshape(t, (4, 3))))
    assert _kinds(fused) == [("elementwise", None), ("elementwise", None)]
    assert unfused_reasons(raw)[id(t)].startswith("feeds a reshape")
    assert_same(raw, fused, *feeds_for(raw))


def test_broadcast_that_sets_the_shape_moves_after_the_kernel():
    # the broadcast makes the (3, 4) shape from (4,) values: the kernel computes the 4
    # values once, and the broadcast stays a view of its result (as simplify would make it)
    v = gc.tensor("v", (4,))
    raw, fused = _fuse(gc.exp(gc.broadcast_to(gc.tanh(v), (3, 4))))
    (k,) = kernels(fused)
    assert k.shape == (4,) and k.attrs["fused"] == ("tanh", "exp")
    out = fused.outputs[0]
    assert out.op == "broadcast_to" and out.shape == (3, 4) and out.inputs[0] is k
    assert_same(raw, fused, *feeds_for(raw))


def test_fan_out_and_outputs_are_stored_with_reasons():
    x, W = gc.tensor("x", ("B", 4)), gc.tensor("W", (4, 4))
    t = gc.tanh(x)        # read by a matmul and an elementwise kernel
    u = gc.exp(x)         # a graph output and read by another kernel
    v = gc.sigmoid(x)     # read by two different reductions
    outs = [t @ W, t * 2.0, u, u + 1.0, gc.sum(v, axis=0), gc.max(v, axis=1)]
    raw, fused = _fuse(*outs)
    reasons = unfused_reasons(raw)
    assert reasons[id(t)].startswith("fan-out to 2 users including a matmul")
    assert reasons[id(u)].startswith("feeds a graph output")
    assert reasons[id(v)].startswith("fan-out: read by 2 kernels")
    assert "nothing elementwise feeds it (it reads input x)" in reasons[id(v)]
    # t*2.0 and u+1.0 are alone as well: each reads only stored values
    assert len(reasons) == 5
    # stored values are computed exactly once in the fused graph
    names = [s.fn.name for n in fused.nodes() if n.op == "elementwise"
             for s in n.attrs["body"].stmts]
    assert names.count("tanh") == 1 and names.count("exp") == 1
    assert_same(raw, fused, *feeds_for(raw))


def test_reasons_name_a_matmul_epilogue_and_skip_fused_nodes():
    x, W, b = gc.tensor("x", ("B", 4)), gc.tensor("W", (4, 3)), gc.tensor("b", (3,))
    z = x @ W + b
    raw, fused = _fuse(gc.relu(z), z)
    assert "fuse_matmul_epilogue makes it its contraction's epilogue" in unfused_reasons(raw)[
        id(z)]
    assert unfused_reasons(fuse_elementwise(gc.Graph.of([gc.relu(x @ W + b)]))) == {}


def test_a_dtype_conversion_is_a_statement_of_the_body():
    x, y = gc.tensor("x", (4,), "float32"), gc.tensor("y", (4,), "float64")
    c = gc.astype(gc.tanh(x), "float64")
    raw, fused = _fuse(gc.exp(c * y))
    (k,) = kernels(fused)
    assert k.attrs["fused"] == ("tanh", "cast", "mul", "exp")
    # tanh runs in float32, as the unfused graph ran it, then the cast, then float64 math
    assert [(s.fn.name, s.dtype) for s in k.attrs["body"].stmts] == [
        ("tanh", "float32"), ("cast", "float64"), ("mul", "float64"), ("exp", "float64")]
    assert_same(raw, fused, *feeds_for(raw))


def test_integer_statements_keep_their_integer_dtype_inside_a_float_kernel():
    i = gc.tensor("i", (4,), "int8")
    doubled = gc.apply(gc.elementwise(lambda v: v * 2).fn, i)  # float32 math of an int
    wrapped = gc.astype(gc.astype(i, "int16") * 300, "int16")  # int16 overflow wraps
    raw, fused = _fuse(gc.tanh(doubled) + gc.astype(wrapped, "float32"))
    (k,) = kernels(fused)
    dtypes = [s.dtype for s in k.attrs["body"].stmts]
    assert "int16" in dtypes and dtypes[-1] == "float32"
    assert_same(raw, fused, {"i": np.array([1, -128, 127, 100], np.int8)})


def test_a_dtype_conversion_into_a_reduction_is_its_prologue():
    x = gc.tensor("x", ("B",), "float64")
    raw, fused = _fuse(gc.sum(gc.astype(gc.tanh(x), "float32")))
    assert _kinds(fused) == [("fused_reduce", ("tanh", "cast", "sum"))]
    (k,) = kernels(fused)
    assert k.dtype == "float32" and k.attrs["body"].dtype == "float32"
    assert_same(raw, fused, *feeds_for(raw))


def test_bodies_are_statements_never_simplified():
    # tanh(x)**2 + (1 - tanh(x)**2) * 1.5 is not collapsed, and x - x stays a subtraction
    x = gc.tensor("x", (4,), "float64")
    t = gc.tanh(x)
    raw, fused = _fuse((t * t) + (1.0 - t * t) * 1.5, gc.exp(x - x) + 1.0)
    first, second = kernels(fused)
    assert [s.fn.name for s in first.attrs["body"].stmts] == ["tanh", "mul", "mul", "sub", "mul",
                                                              "add"]
    assert second.attrs["body"].lines()[0] == "t1 = x0 - x0"
    feeds = {"x": np.array([np.inf, -np.inf, np.nan, 0.5])}
    assert_same(raw, fused, feeds)
    assert np.isnan(evaluate(fused.outputs, feeds, {})[1][:3]).all()


def test_every_fused_node_names_what_it_replaced_and_refusing_is_stable():
    x, w = gc.tensor("x", ("B", 5), "float64"), gc.tensor("w", ("B", 5), "float64")
    loss = gc.sum(gc.softmax(x) * w)
    raw = gc.Graph.of([loss] + gc.grad(loss, [x, w]))
    once = fuse_elementwise(raw)
    twice = fuse_elementwise(once)
    assert all(len(n.attrs["fused"]) >= 2 for n in once.nodes() if "fused" in n.attrs)
    assert _kinds(twice) == _kinds(once)
    assert_same(raw, twice, *feeds_for(raw))


def test_fused_backward_kernels_stay_marked_as_backward():
    x = gc.tensor("x", ("B", 3))
    (gx,) = gc.grad(gc.sum(gc.tanh(x) * gc.tanh(x)), [x])
    _, fused = _fuse(gx)
    assert {n.origin for n in kernels(fused)} == {"grad"}


@given(random_graph(max_steps=8))
def test_fusion_preserves_results(built):
    raw = gc.Graph.of(built.outputs, built.inputs)
    fused = fuse_elementwise(raw)
    assert len(kernels(fused)) <= len(kernels(raw))
    assert_same(raw, fused, built.feeds)


@given(random_graph(max_steps=6, kinks=False))
def test_fused_graphs_can_still_be_differentiated(built):
    fused = fuse_elementwise(gc.Graph.of(built.outputs, built.inputs))
    loss = fused.outputs[-1]
    wrt = [i for i in built.inputs]
    if not wrt:
        return
    gc.check_grad(loss, wrt, built.feeds, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dims", [3, 17])
def test_symbolic_dims_bind_at_call_time(dims):
    x = gc.tensor("x", ("B", "C"))
    raw, fused = _fuse(gc.mean(gc.tanh(x) * 2.0, axis=1))
    assert_same(raw, fused, *feeds_for(raw, batch=dims))


def test_a_division_by_zero_fuses_and_keeps_its_infinities():
    x = gc.tensor("x", (4,), "float64")
    zeros = gc.broadcast_to(gc.constant(0.0, "float64"), (4,))
    raw, fused = _fuse(gc.tanh(x) / (x - x) + 1.0, gc.exp(x) / zeros * 2.0)
    first, second = fused.outputs
    assert first.attrs["fused"] == ("tanh", "sub", "div", "add")
    assert second.attrs["fused"] == ("exp", "div", "mul")
    assert_same(raw, fused, {"x": np.array([-1.0, 0.0, 2.0, np.inf])})


def test_a_body_that_computes_its_operand_is_still_computed():
    # (x*2)*0.5 is x for most floats, not for x = 3e38 (x*2 overflows): the kernel runs
    x = gc.tensor("x", ("B", 3))
    raw, fused = _fuse((x * 2.0) * 0.5)
    assert _kinds(fused) == [("elementwise", ("mul", "mul"))]
    assert_same(raw, fused, {"x": np.float32([[3e38, 1.0, -0.0]])}, {B: 1})


def test_kernels_reuse_the_graphs_own_views():
    # the kernel reads s through the output's view; rebuilding the same reshape or
    # broadcast for its leaf would leave two equal nodes (a second pipeline run merges them)
    s = gc.tensor("s", (3, 1))
    flat, wide = gc.reshape(s, (3,)), gc.broadcast_to(s, (3, 4))
    raw, fused = _fuse(flat, gc.sum(flat * flat), wide, gc.sum(wide * 2.0, axis=1))
    ops = [n.op for n in fused.nodes()]
    assert ops.count("reshape") == 1 and ops.count("broadcast_to") == 1
    assert [n.op for n in kernels(fused)] == ["fused_reduce", "fused_reduce"]
    assert_same(raw, fused, *feeds_for(raw))


def test_a_scale_stays_after_a_sum_of_integers():
    # mean of int64: summed in float64 (as NumPy's mean), exact here, and divided once after;
    # moving the division into the sum would round every element to float32 and sum those
    # (2 ulps off for large values)
    i = gc.tensor("i", (512,), "int64")
    raw, fused = _fuse(gc.mean(i))
    assert [k for k, _ in _kinds(fused)] == ["fused_reduce", "elementwise"]
    values = np.random.default_rng(0).integers(2**40, 2**41, 512)
    np.testing.assert_array_equal(evaluate(fused.outputs, {"i": values}, {})[0],
                                  np.float32(values.sum() / 512))
    assert_same(raw, fused, {"i": values})


def test_a_chain_of_ten_thousand_ops_fuses_without_recursion():
    x = gc.tensor("x", (3,))
    y = x
    for _ in range(5000):
        y = gc.tanh(y) * 0.9
    raw, fused = _fuse(y)
    bodies = [len(k.attrs["body"].stmts) for k in kernels(fused)]
    # every statement once, in kernels of at most MAX_KERNEL_OPS (a native compile of one
    # longer body grows faster than linearly)
    assert sum(bodies) == 10000 and max(bodies) == MAX_KERNEL_OPS
    assert len(bodies) == -(-10000 // MAX_KERNEL_OPS)
    assert_same(raw, fused, {"x": np.float32([0.5, -1.0, 2.0])})
