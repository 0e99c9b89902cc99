"""fuse_matmul_epilogue: relu(x@W + b) and the backward dZ@Wᵀ * relu' become one
fused_contraction; a contraction read elsewhere is left alone; batched einsum too.
Mirrors graphc/passes/fuse_epilogue.py."""
import sympy
from hypothesis import given

import graphc as gc
from fusion_models import B, assert_same, feeds_for
from graphc.passes.fuse_elementwise import fuse_elementwise
from graphc.passes.fuse_epilogue import fuse_matmul_epilogue
from graphc.passes.kernels import kernels
from strategies import random_graph


def _both(*outputs):
    raw = gc.Graph.of(outputs)
    return raw, fuse_matmul_epilogue(fuse_elementwise(raw))


def test_linear_relu_is_one_kernel():
    x, W, b = gc.tensor("x", ("B", 6)), gc.tensor("W", (6, 4)), gc.tensor("b", (4,))
    raw, fused = _both(gc.relu(x @ W + b))
    (k,) = kernels(fused)
    assert k.op == "fused_contraction" and k.attrs["contraction"] == ("matmul",)
    assert k.attrs["fused"] == ("matmul", "add", "relu")
    assert list(k.inputs) == [x, W, b] and k.shape == (B, 4) and k.dtype == "float32"
    epi = k.attrs["epilogue"]  # x0 is the accumulator, x1 the bias
    assert epi.lines() == ["t2 = x0 + x1", "t3 = relu(t2)", "return t3"]
    assert_same(raw, fused, *feeds_for(raw))


def test_a_scale_alone_is_an_epilogue():
    x, W = gc.tensor("x", ("B", 6), "float64"), gc.tensor("W", (6, 4), "float64")
    raw, fused = _both((x @ W) * 0.125)
    assert [k.op for k in kernels(fused)] == ["fused_contraction"]
    assert_same(raw, fused, *feeds_for(raw))


def test_backward_relu_derivative_is_the_epilogue_of_dZ_times_W_transposed():
    x, y = gc.tensor("x", ("B", 5)), gc.tensor("y", ("B",), dtype="int64")
    W1, W2 = gc.tensor("W1", (5, 8)), gc.tensor("W2", (8, 3))
    h = gc.relu(x @ W1)
    loss = gc.cross_entropy(h @ W2, y)
    (gW1,) = gc.grad(loss, [W1])
    raw, fused = _both(gW1)
    epilogues = [k for k in kernels(fused) if k.op == "fused_contraction"]
    # forward relu(x@W1), and dh = dlogits @ W2ᵀ with * [h > 0]
    assert sorted(k.attrs["fused"] for k in epilogues) == [("matmul", "drelu/dx"),
                                                            ("matmul", "relu")]
    back = next(k for k in epilogues if k.origin == "grad")
    assert back.inputs[1].op == "transpose" and back.inputs[2] is next(
        k for k in epilogues if k.origin == "forward")  # relu' reads h, not x@W1
    assert_same(raw, fused, *feeds_for(raw))


def test_a_contraction_read_twice_is_not_fused():
    x, W, b = gc.tensor("x", ("B", 6)), gc.tensor("W", (6, 4)), gc.tensor("b", (4,))
    z = x @ W
    raw, fused = _both(gc.relu(z + b), gc.sum(z))
    assert "fused_contraction" not in [k.op for k in kernels(fused)]
    raw, fused = _both(gc.relu(z + b), z)  # a graph output
    assert "fused_contraction" not in [k.op for k in kernels(fused)]
    assert_same(raw, fused, *feeds_for(raw))


def test_batched_einsum_with_an_epilogue():
    q, k = gc.tensor("q", ("B", 4, 8), "float64"), gc.tensor("k", ("B", 5, 8), "float64")
    raw, fused = _both(gc.tanh(gc.einsum("bid,bjd->bij", q, k) * 0.5))
    (node,) = kernels(fused)
    assert node.attrs["contraction"] == ("einsum", ("bid", "bjd"), "bij")
    assert node.attrs["fused"] == ("einsum", "mul", "tanh")
    assert_same(raw, fused, *feeds_for(raw))


def test_the_first_of_two_contractions_is_the_accumulator():
    x, y = gc.tensor("x", ("B", 3)), gc.tensor("y", ("B", 2))
    W, V = gc.tensor("W", (3, 4)), gc.tensor("V", (2, 4))
    raw, fused = _both(x @ W + y @ V)
    assert [k.op for k in kernels(fused)] == ["matmul", "fused_contraction"]
    node = kernels(fused)[1]
    assert node.inputs[:2] == (x, W) and node.inputs[2].op == "matmul"
    assert_same(raw, fused, *feeds_for(raw))


def test_the_same_contraction_read_twice_by_one_kernel_is_one_accumulator():
    x, W = gc.tensor("x", (3, 3), "float64"), gc.tensor("W", (3, 3), "float64")
    z = x @ W
    raw = gc.Graph.of([gc.mul(z, z)])  # one elementwise node reading z twice
    fused = fuse_matmul_epilogue(raw)
    (node,) = kernels(fused)
    assert node.op == "fused_contraction" and len(node.inputs) == 2
    assert_same(raw, fused, *feeds_for(raw))


def test_epilogue_keeps_a_dtype_conversion():
    x, W = gc.tensor("x", (2, 3), "float64"), gc.tensor("W", (3, 4), "float64")
    raw = gc.Graph.of([gc.astype(x @ W, "float32")])
    fused = fuse_matmul_epilogue(raw)
    (node,) = kernels(fused)
    assert node.op == "fused_contraction" and node.dtype == "float32"
    assert_same(raw, fused, *feeds_for(raw))


@given(random_graph(max_steps=8))
def test_epilogue_fusion_preserves_results(built):
    raw = gc.Graph.of(built.outputs, built.inputs)
    assert_same(raw, fuse_matmul_epilogue(raw), built.feeds)
    fused = fuse_matmul_epilogue(fuse_elementwise(raw))
    assert_same(raw, fused, built.feeds)
