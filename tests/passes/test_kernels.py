"""kernels(graph): what launches work. Views and sources do not; every other node does,
one per fused node after fusion. Mirrors graphc/passes/kernels.py."""
import graphc as gc
from fusion_models import mlp_graph
from graphc.passes.fuse_elementwise import fuse_elementwise
from graphc.passes.fuse_epilogue import fuse_matmul_epilogue
from graphc.ir.op import OPS
from graphc.passes.kernels import is_kernel, kernels


def test_sources_and_views_are_not_kernels():
    x, W = gc.tensor("x", ("B", 3)), gc.tensor("W", (3, 2))
    y = gc.broadcast_to(gc.reshape(gc.constant(2.0), (1, 1)), ("B", 2))
    out = gc.sum(gc.exp((x @ W) * y).T, axis=0)
    got = [n.op for n in kernels(gc.Graph.of([out]))]
    assert got == ["matmul", "elementwise", "elementwise", "sum"]
    free = {name for name, op in OPS.items() if op.kind in ("source", "layout")}
    assert free == {"input", "constant", "transpose", "reshape", "broadcast_to", "stop_gradient",
                    "slice", "windows"}
    assert not is_kernel(y) and is_kernel(out)


def test_accepts_a_graph_a_tensor_or_a_list_and_lists_inputs_first():
    x = gc.tensor("x", (4,))
    a = gc.tanh(x)
    b = gc.sum(a * a)
    g = gc.Graph.of([b, a])
    assert kernels(g) == kernels([b, a]) == kernels(b)
    assert kernels(b)[0] is a and kernels(b)[-1] is b


def test_one_kernel_per_fused_node():
    x, W, b = gc.tensor("x", ("B", 3)), gc.tensor("W", (3, 2)), gc.tensor("b", (2,))
    g = gc.Graph.of([gc.sum(gc.relu(x @ W + b) * 0.5)])
    assert len(kernels(g)) == 5  # matmul, add, relu, mul, sum
    fused = fuse_matmul_epilogue(fuse_elementwise(g))
    # the whole chain is the sum's prologue (fused first), so the matmul keeps no epilogue
    assert [(n.op, n.attrs.get("fused")) for n in kernels(fused)] == [
        ("matmul", None), ("fused_reduce", ("add", "relu", "mul", "sum"))]
    g = gc.Graph.of([gc.relu(x @ W + b) * 0.5])
    assert [(n.op, n.attrs.get("fused")) for n in kernels(fuse_matmul_epilogue(
        fuse_elementwise(g)))] == [("fused_contraction", ("matmul", "add", "relu", "mul"))]


def test_fusion_counts_for_a_small_mlp_without_the_algebraic_passes():
    raw = mlp_graph((6, 5, 4, 3))
    fused = fuse_matmul_epilogue(fuse_elementwise(raw))
    ops = [n.op for n in kernels(fused)]
    # 3 forward + 5 backward contractions, each one kernel with or without an epilogue
    assert ops.count("fused_contraction") + ops.count("matmul") == 8
    assert ops.count("fused_contraction") == 5 and len(ops) < len(kernels(raw))
