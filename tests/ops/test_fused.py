"""The fused ops (fused_reduce, fused_contraction): shape rules with broadcasting and symbolic
dims, clear errors, references equal to the primitives they stand for (float32, float64 and
integer inputs), and gradients through them. Mirrors graphc/ops/fused.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.grad.expand import expand
from graphc.ir.body import BodyBuilder, Lit, one_op
from graphc.ir.node import make
from graphc.ir.shapes import dim
from graphc.ops import elementwise as ew

B = dim("B")
RNG = np.random.default_rng(7)


def sq_diff(d0="float64", d1="float64"):
    """(x0 - x1) * (x0 - x1), as two statements."""
    b = BodyBuilder()
    t = b.apply(ew.SUB, [b.param(d0), b.param(d1)])
    return b.build(b.apply(ew.MUL, [t, t]))


def bias_relu(dtype):
    """relu(acc + e0)."""
    b = BodyBuilder()
    acc, e0 = b.param(dtype), b.param(dtype)
    return b.build(b.apply(ew.RELU, [b.apply(ew.ADD, [acc, e0])]))


SQ_DIFF, BIAS_RELU = sq_diff(), bias_relu("float32")


def _run(node, feeds, dims=None):
    """The fused node and its expansion into primitives, evaluated by the reference."""
    return evaluate([node, expand(node)], feeds, dims or {})


@pytest.mark.parametrize("reduce", ["sum", "max", "logsumexp"])
@pytest.mark.parametrize("axes,keepdims", [((1,), False), ((0, 1), True), ((), False)])
def test_fused_reduce_equals_its_primitives(reduce, axes, keepdims):
    a, b = gc.tensor("a", ("B", 5), "float64"), gc.tensor("b", (5,), "float64")
    node = make("fused_reduce", (a, b), reduce=reduce, body=SQ_DIFF, axes=axes, keepdims=keepdims)
    expected_shape = tuple(1 if k in axes else d for k, d in enumerate((B, 5)) if keepdims or
                           k not in axes)
    assert node.shape == expected_shape and node.dtype == "float64"
    feeds = {"a": RNG.standard_normal((3, 5)), "b": RNG.standard_normal(5)}
    fused, plain = _run(node, feeds, {B: 3})
    np.testing.assert_allclose(fused, plain, rtol=1e-12)
    assert fused.shape == tuple(int(d.subs(B, 3)) if hasattr(d, "subs") else d for d in node.shape)


def test_fused_reduce_over_a_broadcast_prologue():
    # x0 (3,1) and x1 (4,) broadcast to (3,4) before the sum over axis 1
    a, b = gc.tensor("a", (3, 1)), gc.tensor("b", (4,))
    node = make("fused_reduce", (a, b), reduce="sum", body=sq_diff("float32", "float32"),
                axes=(1,), keepdims=False)
    assert node.shape == (3,) and node.dtype == "float32"
    feeds = {"a": RNG.standard_normal((3, 1)).astype("float32"),
             "b": RNG.standard_normal(4).astype("float32")}
    fused, plain = _run(node, feeds)
    assert fused.dtype == np.float32
    np.testing.assert_allclose(fused, ((feeds["a"] - feeds["b"]) ** 2).sum(1), rtol=1e-6)
    np.testing.assert_allclose(fused, plain, rtol=1e-6)


def test_fused_reduce_keeps_the_prologue_dtypes_of_the_unfused_graph():
    # an integer prologue times 3 in int64, summed in int64; then a float64 mean epilogue
    i = gc.tensor("i", (6,), "int64")
    pro = one_op(ew.MUL, ["int64", Lit(3)], "int64")
    b = BodyBuilder()
    epi = b.build(b.apply(ew.DIV, [b.param("int64"), Lit(6)], "float64"))
    node = make("fused_reduce", (i,), reduce="sum", body=pro, axes=(0,), keepdims=False,
                epilogue=epi)
    assert node.dtype == "float64"
    fused, plain = _run(node, {"i": np.arange(6)})
    assert fused == plain == 7.5
    big = make("fused_reduce", (i,), reduce="sum", body=pro, axes=(0,), keepdims=False)
    assert big.dtype == "int64"
    fused, plain = _run(big, {"i": np.full(6, 2**61)})  # int64 wraps the same way twice
    assert fused == plain


def test_fused_reduce_rejects_bad_attrs():
    a = gc.tensor("a", (3, 4))
    body = sq_diff("float32", "float32")
    with pytest.raises(ValueError, match="reduce must be one of"):
        make("fused_reduce", (a, a), reduce="mean", body=body, axes=(0,), keepdims=False)
    with pytest.raises(gc.ShapeError, match="fused_reduce: axes"):
        make("fused_reduce", (a, a), reduce="sum", body=body, axes=(2,), keepdims=False)
    with pytest.raises(ValueError, match="more than the prologue reads"):
        make("fused_reduce", (a, a, a), reduce="sum", body=body, axes=(0,), keepdims=False)
    with pytest.raises(ValueError, match="operand 1 is float64, the prologue reads float32"):
        make("fused_reduce", (a, gc.tensor("d", (3, 4), "float64")), reduce="sum", body=body,
             axes=(0,), keepdims=False)
    with pytest.raises(gc.ShapeError, match="do not broadcast"):
        make("fused_reduce", (a, gc.tensor("c", (5,))), reduce="sum", body=body, axes=(0,),
             keepdims=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_matmul_with_bias_relu_epilogue(dtype):
    x, W, b = gc.tensor("x", ("B", 4), dtype), gc.tensor("W", (4, 3), dtype), \
        gc.tensor("b", (3,), dtype)
    node = make("fused_contraction", (x, W, b), contraction=("matmul",),
                epilogue=bias_relu(dtype))
    assert node.shape == (B, 3) and node.dtype == dtype
    feeds = {"x": RNG.standard_normal((5, 4)).astype(dtype),
             "W": RNG.standard_normal((4, 3)).astype(dtype),
             "b": RNG.standard_normal(3).astype(dtype)}
    fused, plain = _run(node, feeds, {B: 5})
    assert fused.dtype == np.dtype(dtype)
    expected = np.maximum(feeds["x"] @ feeds["W"] + feeds["b"], 0)
    np.testing.assert_allclose(fused, expected, rtol=1e-5)
    np.testing.assert_array_equal(fused, plain)


def test_fused_einsum_contraction_broadcasts_with_its_extras():
    a, b = gc.tensor("a", ("B", 2, 3), "float64"), gc.tensor("b", ("B", 3, 4), "float64")
    s = gc.tensor("s", (2, 1), "float64")
    epi = one_op(ew.MUL, ["float64", "float64"])
    node = make("fused_contraction", (a, b, s), contraction=("einsum", ("bik", "bkj"), "bij"),
                epilogue=epi)
    assert node.shape == (B, 2, 4)
    feeds = {"a": RNG.standard_normal((2, 2, 3)), "b": RNG.standard_normal((2, 3, 4)),
             "s": RNG.standard_normal((2, 1))}
    fused, plain = _run(node, feeds, {B: 2})
    np.testing.assert_allclose(fused, np.einsum("bik,bkj->bij", feeds["a"], feeds["b"]) *
                               feeds["s"], rtol=1e-12)
    np.testing.assert_array_equal(fused, plain)


def test_fused_contraction_rejects_bad_operands():
    x, W = gc.tensor("x", ("B", 4)), gc.tensor("W", (5, 3))
    with pytest.raises(gc.ShapeError, match="matmul: shapes"):
        make("fused_contraction", (x, W, x), contraction=("matmul",), epilogue=BIAS_RELU)
    with pytest.raises(ValueError, match="contraction must be"):
        make("fused_contraction", (x, x), contraction=("conv",), epilogue=BIAS_RELU)
    with pytest.raises(ValueError, match="needs operands A and B"):
        make("fused_contraction", (x,), contraction=("matmul",), epilogue=BIAS_RELU)
    with pytest.raises(ValueError, match="reads the accumulator and 1 operand"):
        make("fused_contraction", (x, gc.tensor("V", (4, 3))), contraction=("matmul",),
             epilogue=BIAS_RELU)


def test_gradients_flow_through_fused_nodes():
    a, b = gc.tensor("a", (3, 4), "float64"), gc.tensor("b", (4,), "float64")
    W = gc.tensor("W", (4, 2), "float64")
    red = make("fused_reduce", (a, b), reduce="logsumexp", body=SQ_DIFF, axes=(1,),
               keepdims=False)
    tanh_epi = one_op(ew.TANH, ["float64"])
    con = make("fused_contraction", (a, W), contraction=("matmul",), epilogue=tanh_epi)
    # b2 depends on a: the expansion must not differentiate that path twice
    red2 = make("fused_reduce", (a, gc.tanh(a)), reduce="sum", body=SQ_DIFF, axes=(0, 1),
                keepdims=False, epilogue=one_op(ew.SQRT, ["float64"]))
    loss = gc.sum(red) + gc.sum(con * con) + red2
    feeds = {"a": RNG.standard_normal((3, 4)), "b": RNG.standard_normal(4),
             "W": RNG.standard_normal((4, 2))}
    errors = gc.check_grad(loss, [a, b, W], feeds)
    assert set(errors) == {"a", "b", "W"}


def test_a_repeated_operand_gets_one_cotangent():
    a = gc.tensor("a", (3, 3), "float64")
    node = make("fused_contraction", (a, a), contraction=("matmul",),
                epilogue=one_op(ew.MUL, ["float64", Lit(2)]))
    gc.check_grad(gc.sum(node), [a], {"a": RNG.standard_normal((3, 3))})


def test_a_fused_elementwise_body_is_differentiated_by_expansion():
    a = gc.tensor("a", (5,), "float64")
    b = BodyBuilder()
    p = b.param("float64")
    t = b.apply(ew.TANH, [p])
    node = make("elementwise", (a,), body=b.build(b.apply(ew.MUL, [t, t])), fused=("tanh", "mul"))
    (plain,) = evaluate([expand(node)], {"a": np.linspace(-1, 1, 5)}, {})
    np.testing.assert_allclose(plain, np.tanh(np.linspace(-1, 1, 5)) ** 2)
    gc.check_grad(gc.sum(node), [a], {"a": RNG.standard_normal(5)})
