"""graph -> Program: views where layout allows, a copy kernel (a recorded decision) where it
does not, one kernel per fused node, whole fresh buffers for outputs. Mirrors
graphc/lower/lowering.py."""
import graphc as gc
from graphc.lower import lower
from graphc.lower.program import ContractKernel, ElementwiseKernel, ReduceKernel
from graphc.passes.pipeline import optimize


def program(outputs):
    graph, _ = optimize(gc.Graph.of(outputs))
    return lower(graph)


def test_transposes_and_broadcasts_are_access_maps():
    x, w = gc.tensor("x", ("B", 4)), gc.tensor("w", (3, 4))
    p = program([gc.relu(x @ w.T + 1.0)])
    (k,) = p.kernels
    assert isinstance(k, ContractKernel) and k.provenance == ("matmul", "add", "relu")
    assert k.b.strides[-1] == 1 and k.b.strides[-2] == 4  # wᵀ read in place: a flag for BLAS
    assert p.decisions == []


def test_a_reshape_of_a_transposed_result_is_a_copy_and_says_so():
    x, w = gc.tensor("x", ("B", 4)), gc.tensor("w", (4, 6))
    y = gc.reshape(gc.transpose(gc.reshape(x @ w, ("B", 2, 3)), (0, 2, 1)), ("B", 6))
    p = program([gc.exp(y)])
    copies = [d for d in p.decisions if "copy" in d]
    assert len(copies) == 1 and "reshape" in copies[0]
    assert isinstance(p.kernels[1], ElementwiseKernel) and p.kernels[1].provenance == ("copy",)


def test_outputs_are_whole_fresh_buffers():
    x = gc.tensor("x", ("B", 3))
    e = gc.exp(x)
    p = program([e, x, e.T, gc.sum(e, axis=1)])
    assert [p.buffers[o.buffer].role for o in p.outputs] == ["output"] * 4
    assert len({o.buffer for o in p.outputs}) == 4
    assert sum("copy" in d for d in p.decisions) == 2  # the input, and the transposed view
    assert any(isinstance(k, ReduceKernel) for k in p.kernels)


def test_a_contraction_reads_both_operands_in_its_own_dtype():
    # float32 @ float64 multiplies in float64: the float32 operand is cast by a copy kernel (a
    # kernel or BLAS reading float32 memory as float64 read garbage: a hypothesis find)
    x, w = gc.tensor("x", ("B", 4), "float64"), gc.tensor("w", (4, 3), "float32")
    a, c = gc.tensor("a", (2, 3, 4), "float32"), gc.tensor("c", (2, 5, 4), "float64")
    for out in (x @ w, gc.relu(x @ w + 1.0), gc.einsum("bik,bjk->bij", a, c)):
        p = program([out])
        for k in p.kernels:
            if isinstance(k, ContractKernel):
                assert k.acc_dtype == "float64"
                assert p.buffers[k.a.buffer].dtype == p.buffers[k.b.buffer].dtype == "float64"
        assert any("float32 to float64" in d for d in p.decisions), p.decisions
