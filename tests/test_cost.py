import pytest
import sympy

import graphc as gc
from graphc.cost import CostReport, cost, node_cost
from graphc.ir.node import Attrs, Node, make
from graphc.ir.body import BodyBuilder, Lit, one_op
from graphc.ir.op import OPS, OpDef
from graphc.ir.scalar import ScalarFn
from graphc.ops import elementwise as ew
from graphc.ir.shapes import dim

B = dim("B")
x_, y_, z_, acc = sympy.symbols("x y z acc")


def test_matmul_flops_and_bytes_by_hand():
    x, w = gc.tensor("x", ("B", 784)), gc.tensor("W", (784, 256))
    c = node_cost(x @ w)
    assert c.flops == 2 * B * 784 * 256
    assert c.bytes == 4 * (B * 784 + 784 * 256 + B * 256)
    assert c.intensity == c.flops / c.bytes
    x64, w64 = gc.tensor("x", ("B", 784), "float64"), gc.tensor("W", (784, 256), "float64")
    assert node_cost(x64 @ w64).bytes == 8 * (B * 784 + 784 * 256 + B * 256)


def test_batched_matmul_and_einsum():
    a, b = gc.tensor("a", (4, "B", 3, 5)), gc.tensor("b", (5, 2))
    assert node_cost(a @ b).flops == 2 * 4 * B * 3 * 5 * 2
    assert node_cost(a @ b).bytes == 4 * (4 * B * 15 + 10 + 4 * B * 6)
    p, q = gc.tensor("p", ("B", 3, 4)), gc.tensor("q", ("B", 4, 5))
    e = gc.einsum("bij,bjk->bik", p, q)
    assert node_cost(e).flops == 2 * B * 3 * 4 * 5
    assert node_cost(e).bytes == 4 * (B * 12 + B * 20 + B * 15)


def test_elementwise_counts_the_body_and_reads_each_storage_once():
    x, b, z = gc.tensor("x", ("B", 256)), gc.tensor("b", (256,)), gc.tensor("z", ("B", 256))
    fma = gc.apply(ScalarFn("fma", (x_, y_, z_), x_ * y_ + z_), x, b, z)
    assert node_cost(fma).flops == 2 * B * 256  # one multiply, one add per element
    # b is read as its 256 stored values, not as the (B, 256) it broadcasts to
    assert node_cost(fma).bytes == 4 * (B * 256 + 256 + B * 256 + B * 256)
    square = x * x  # x read once
    assert node_cost(square).bytes == 4 * (B * 256 + B * 256)
    assert node_cost(gc.tanh(x.T)).bytes == 4 * 2 * B * 256  # a transposed view: x itself


def test_reductions_and_one_hot():
    x = gc.tensor("x", ("B", 10))
    assert node_cost(gc.sum(x, axis=1)).flops == 10 * B
    assert node_cost(gc.sum(x, axis=1)).bytes == 4 * (10 * B + B)
    assert node_cost(gc.max(x, axis=1)).flops == 10 * B
    assert node_cost(gc.logsumexp(x, axis=1)).flops == 4 * 10 * B + 2 * B
    labels = gc.tensor("y", ("B",), "int64")
    hot = gc.one_hot(labels, 10)
    assert node_cost(hot).flops == 10 * B and node_cost(hot).bytes == 8 * B + 4 * 10 * B


def test_sources_and_layout_views_cost_nothing():
    x = gc.tensor("x", ("B", 4))
    for n in (x, gc.constant([1.0, 2.0]), x.T, x.reshape(-1), gc.broadcast_to(x, (3, "B", 4))):
        c = node_cost(n)
        assert c.flops == 0 and c.bytes == 0 and c.intensity == 0


def _body(fns, dtypes):
    """A body applying each fn in turn to the previous value and the next param."""
    b = BodyBuilder()
    params = [b.param(d) for d in dtypes]
    v = params[0]
    for k, fn in enumerate(fns):
        v = b.apply(fn, [v] + params[1 + k:2 + k] if fn.arity == 2 else [v])
    return b.build(v)


def test_fused_nodes():
    x, y = gc.tensor("x", ("B", 10)), gc.tensor("y", ("B", 10))
    dot = make("fused_reduce", (x, y), reduce="sum", body=one_op(ew.MUL, ["float32"] * 2),
               axes=(1,), keepdims=False, fused=("mul", "sum"))
    assert node_cost(dot).flops == (1 + 1) * 10 * B
    assert node_cost(dot).bytes == 4 * (10 * B + 10 * B + B)
    lse = make("fused_reduce", (x, y), reduce="logsumexp", fused=("sub", "logsumexp"),
               body=one_op(ew.SUB, ["float32"] * 2), axes=(1,), keepdims=True)
    assert node_cost(lse).flops == (1 + 4) * 10 * B + 2 * B
    mean = make("fused_reduce", (x,), reduce="sum", body=one_op(ew.NEG, ["float32"]),
                axes=(1,), keepdims=False, epilogue=one_op(ew.DIV, ["float32", Lit(10)]))
    assert node_cost(mean).flops == (1 + 1) * 10 * B + B  # the epilogue once per output
    a, w, b = gc.tensor("a", ("B", 784)), gc.tensor("W", (784, 256)), gc.tensor("b", (256,))
    fc = make("fused_contraction", (a, w, b), contraction=("matmul",),
              epilogue=_body([ew.ADD, ew.RELU], ["float32", "float32"]),
              fused=("matmul", "add", "relu"))
    # one add, one compare-and-select per element, as the unfused add and relu did
    assert node_cost(fc).flops == 2 * B * 784 * 256 + 2 * B * 256
    assert node_cost(fc).bytes == 4 * (B * 784 + 784 * 256 + 256 + B * 256)
    p, q = gc.tensor("p", ("B", 3, 4)), gc.tensor("q", ("B", 4, 5))
    fe = make("fused_contraction", (p, q), contraction=("einsum", ("bij", "bjk"), "bik"),
              epilogue=one_op(ew.MUL, ["float32", Lit(2)]), fused=("einsum", "mul"))
    assert node_cost(fe).flops == 2 * B * 60 + B * 15


def test_an_op_without_a_rule_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(OPS, "mystery", OpDef("mystery", "index", lambda i, a: ((), "float32"),
                                              lambda v, n, d: 0))
    stranger = Node("mystery", (), Attrs(), (), "float32")
    with pytest.raises(ValueError, match="op 'mystery' declares no flops rule"):
        node_cost(stranger)


def mlp():
    x, w1 = gc.tensor("x", ("B", 784)), gc.tensor("W1", (784, 256))
    b1, w2 = gc.tensor("b1", (256,)), gc.tensor("W2", (256, 10))
    return gc.relu(x @ w1 + b1) @ w2


def test_a_report_has_one_row_per_kernel_and_totals():
    report = cost(mlp())
    assert [n.op for n, _ in report.rows] == ["matmul", "elementwise", "elementwise", "matmul"]
    assert report.flops == 2 * B * 784 * 256 + B * 256 + B * 256 + 2 * B * 256 * 10
    assert report.bytes == sum((c.bytes for _, c in report.rows), sympy.Integer(0))
    assert [i for _, i in report.intensities()] == [c.intensity for _, c in report.rows]
    flops, nbytes = report.evaluate({"B": 64})
    assert flops == 2 * 64 * 784 * 256 + 2 * 64 * 256 + 2 * 64 * 2560
    assert nbytes == float(report.bytes.subs(B, 64))
    table = report.table({"B": 64})
    assert "matmul" in table and f"{flops:.4g}" in table and "4 kernels" in table
    assert "B" in str(report)  # symbolic without dims


def test_gc_cost_compares_raw_and_optimized():
    x = gc.tensor("x", ("B", 8))
    wasteful = gc.sum(gc.neg(gc.neg(gc.tanh(x))) * gc.constant(1.0))
    comparison = gc.cost(wasteful, opt_level=1)
    assert isinstance(comparison.raw, CostReport) and isinstance(comparison.optimized,
                                                                 CostReport)
    assert comparison.raw.flops == 8 * B * 4 + 8 * B  # tanh, neg, neg, mul; then the sum
    assert comparison.optimized.flops == 8 * B + 8 * B  # tanh, sum
    text = str(comparison)
    assert "raw graph" in text and "optimized graph" in text and "kernels 5 -> 2" in text


def test_compiled_function_cost_is_the_cost_of_its_graph():
    f = gc.compile(mlp())
    report = f.cost()
    assert [n for n, _ in report.rows] == [n for n, _ in cost(f.graph).rows]
    # fusion saves memory traffic, not arithmetic
    assert report.flops == cost(f.raw_graph).flops
    assert report.evaluate({"B": 2})[1] <= cost(f.raw_graph).evaluate({"B": 2})[1]


def test_the_docstring_examples_run():
    import doctest
    import sys
    # the module, not gc.cost (the comparison function that shadows its name on the package)
    result = doctest.testmod(sys.modules["graphc.cost"])
    assert result.failed == 0 and result.attempted >= 2
