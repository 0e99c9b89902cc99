"""The fused ops (fused_reduce, fused_contraction): shape rules with broadcasting and symbolic
dims, clear errors, references equal to the primitives they stand for (float32, float64 and
integer inputs), and gradients through them. Mirrors graphc/ops/fused.py."""
import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.node import make
from graphc.ir.scalar import ScalarFn
from graphc.ir.shapes import dim
from graphc.ops.fused import body_lines, expand, fresh_params

x0, x1, x2 = sympy.symbols("x0 x1 x2")
acc, e0 = sympy.symbols("acc e0")
B = dim("B")
RNG = np.random.default_rng(7)
SQ_DIFF = ScalarFn("fused", (x0, x1), (x0 - x1) ** 2)
BIAS_RELU = ScalarFn("epilogue", (acc, e0), sympy.Piecewise((acc + e0, acc + e0 > 0), (0, True)))


def _run(node, feeds, dims=None):
    """The fused node and its expansion into primitives, evaluated by the reference."""
    return evaluate([node, expand(node)], feeds, dims or {})


@pytest.mark.parametrize("reduce", ["sum", "max", "logsumexp"])
@pytest.mark.parametrize("axes,keepdims", [((1,), False), ((0, 1), True), ((), False)])
def test_fused_reduce_equals_its_primitives(reduce, axes, keepdims):
    a, b = gc.tensor("a", ("B", 5), "float64"), gc.tensor("b", (5,), "float64")
    node = make("fused_reduce", (a, b), reduce=reduce, fn=SQ_DIFF, axes=axes, keepdims=keepdims)
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
    node = make("fused_reduce", (a, b), reduce="sum", fn=SQ_DIFF, axes=(1,), keepdims=False)
    assert node.shape == (3,) and node.dtype == "float32"
    feeds = {"a": RNG.standard_normal((3, 1)).astype("float32"),
             "b": RNG.standard_normal(4).astype("float32")}
    fused, plain = _run(node, feeds)
    assert fused.dtype == np.float32
    np.testing.assert_allclose(fused, ((feeds["a"] - feeds["b"]) ** 2).sum(1), rtol=1e-6)
    np.testing.assert_allclose(fused, plain, rtol=1e-6)


def test_fused_reduce_casts_the_prologue_like_the_unfused_graph():
    # an integer prologue stored as float32 first, then summed: dtype attr decides
    i = gc.tensor("i", (6,), "int64")
    fn = ScalarFn("fused", (x0,), x0 * 3)
    node = make("fused_reduce", (i,), reduce="sum", fn=fn, axes=(0,), keepdims=False,
                dtype="float64")
    assert node.dtype == "float64"
    fused, plain = _run(node, {"i": np.arange(6)})
    assert fused == plain == 45.0


def test_fused_reduce_rejects_bad_attrs():
    a = gc.tensor("a", (3, 4))
    with pytest.raises(ValueError, match="reduce must be one of"):
        make("fused_reduce", (a, a), reduce="mean", fn=SQ_DIFF, axes=(0,), keepdims=False)
    with pytest.raises(gc.ShapeError, match="fused_reduce: axes"):
        make("fused_reduce", (a, a), reduce="sum", fn=SQ_DIFF, axes=(2,), keepdims=False)
    with pytest.raises(ValueError, match="takes 2 inputs, got 1"):
        make("fused_reduce", (a,), reduce="sum", fn=SQ_DIFF, axes=(0,), keepdims=False)
    with pytest.raises(gc.ShapeError, match="do not broadcast"):
        make("fused_reduce", (a, gc.tensor("c", (5,))), reduce="sum", fn=SQ_DIFF, axes=(0,),
             keepdims=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_matmul_with_bias_relu_epilogue(dtype):
    x, W, b = gc.tensor("x", ("B", 4), dtype), gc.tensor("W", (4, 3), dtype), \
        gc.tensor("b", (3,), dtype)
    node = make("fused_contraction", (x, W, b), contraction=("matmul",), epilogue=BIAS_RELU)
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
    epi = ScalarFn("epilogue", (acc, e0), acc * e0)
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
    with pytest.raises(ValueError, match="takes 2 inputs, got 1"):
        make("fused_contraction", (x, gc.tensor("V", (4, 3))), contraction=("matmul",),
             epilogue=BIAS_RELU)


def test_gradients_flow_through_fused_nodes():
    a, b = gc.tensor("a", (3, 4), "float64"), gc.tensor("b", (4,), "float64")
    W = gc.tensor("W", (4, 2), "float64")
    red = make("fused_reduce", (a, b), reduce="logsumexp", fn=SQ_DIFF, axes=(1,),
               keepdims=False)
    tanh_epi = ScalarFn("epilogue", (acc,), sympy.tanh(acc))
    con = make("fused_contraction", (a, W), contraction=("matmul",), epilogue=tanh_epi)
    # b2 depends on a: the expansion must not differentiate that path twice
    red2 = make("fused_reduce", (a, gc.tanh(a)), reduce="sum", fn=SQ_DIFF, axes=(0, 1),
                keepdims=False)
    loss = gc.sum(red) + gc.sum(con * con) + red2
    feeds = {"a": RNG.standard_normal((3, 4)), "b": RNG.standard_normal(4),
             "W": RNG.standard_normal((4, 2))}
    errors = gc.check_grad(loss, [a, b, W], feeds)
    assert set(errors) == {"a", "b", "W"}


def test_a_repeated_operand_gets_one_cotangent():
    a = gc.tensor("a", (3, 3), "float64")
    node = make("fused_contraction", (a, a), contraction=("matmul",),
                epilogue=ScalarFn("epilogue", (acc,), 2 * acc))
    gc.check_grad(gc.sum(node), [a], {"a": RNG.standard_normal((3, 3))})


def test_fresh_params_avoid_dim_names_and_body_lines_name_shared_parts():
    assert [str(p) for p in fresh_params(3, "x", {sympy.Symbol("x1")})] == ["x0", "x2", "x3"]
    t = sympy.exp(x0 - x1)
    lines = body_lines(ScalarFn("fused", (x0, x1), t / (1 + t)))
    assert lines[0] == "t0 = exp(x0 - x1)" and lines[-1].startswith("out = ")
    assert "exp" not in lines[-1]  # the shared part is computed once
