"""Symbolic cost: FLOPs and bytes moved per node, as sympy expressions in the symbolic dims.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 784)); W = gc.tensor("W", (784, 256))
    >>> node_cost(x @ W).flops
    401408*B

One rule per op family, in `RULES`. The model, so numbers can be checked by hand:
- FLOPs: a multiply-add is 2 (an (M,K)@(K,N) matmul is 2*M*K*N); an elementwise body costs
  `sympy.count_ops` per element (x*y + z is 2), shared parts counted once (after
  `sympy.cse`, as generated code computes them); a sum or max costs 1 per input element,
  a logsumexp 4 (max, subtract, exp, add) plus 2 per output element (log, add back).
- Bytes: each operand's storage read once (a broadcast or transposed view reads the tensor
  under it, a tensor read twice by one kernel is read once) plus the result written once.
- Sources and layout views (transpose, reshape, broadcast_to) launch no work and cost 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy

from .ir.graph import Graph
from .ir.node import Node
from .ir.shapes import broadcast_shapes, fmt_shape, numel

ZERO = sympy.Integer(0)
LAYOUT = ("transpose", "reshape", "broadcast_to")
# FLOPs per element reduced, and per element produced, of each reduction
REDUCE_FLOPS = {"sum": (1, 0), "max": (1, 0), "logsumexp": (4, 2)}


@dataclass(frozen=True)
class Cost:
    flops: sympy.Expr
    bytes: sympy.Expr

    @property
    def intensity(self) -> sympy.Expr:
        """Arithmetic intensity, FLOPs per byte moved (0 for a node that moves nothing)."""
        return self.flops / self.bytes if self.bytes != 0 else ZERO

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.flops + other.flops, self.bytes + other.bytes)


def size_bytes(node: Node) -> sympy.Expr:
    return numel(node.shape) * np.dtype(node.dtype).itemsize


def storage(node: Node) -> Node:
    """The node whose memory a layout view reads."""
    while node.op in LAYOUT:
        node = node.inputs[0]
    return node


def moved(node: Node, operands=None) -> sympy.Expr:
    """Bytes a kernel moves: each distinct operand storage read once, the result written."""
    seen, total = set(), size_bytes(node)
    for o in node.inputs if operands is None else operands:
        s = storage(o)
        if id(s) not in seen:
            seen.add(id(s))
            total += size_bytes(s)
    return total


def body_flops(fn) -> sympy.Expr:
    """Operations per element of a body, counting a shared subexpression once (a fused
    relu(x + y) is Piecewise((x + y, x + y > 0), ...): one add, one compare)."""
    return _ops_after_cse(fn.expr)


@lru_cache(maxsize=4096)
def _ops_after_cse(expr: sympy.Expr) -> sympy.Expr:
    temps, (reduced,) = sympy.cse([expr])
    return sympy.Integer(sum(sympy.count_ops(e) for _, e in temps) + sympy.count_ops(reduced))


# ---- one rule per op family ----------------------------------------------------------------
def _free(node):
    return Cost(ZERO, ZERO)


def _elementwise(node):
    return Cost(body_flops(node.attrs["fn"]) * numel(node.shape), moved(node))


def _reduce(node):
    per_in, per_out = REDUCE_FLOPS[node.op]
    flops = per_in * numel(node.inputs[0].shape) + per_out * numel(node.shape)
    return Cost(flops, moved(node))


def _fused_reduce(node):
    """The prologue body over the broadcast operands, then the reduction of its values."""
    shape = broadcast_shapes("fused_reduce", *[i.shape for i in node.inputs])
    per_in, per_out = REDUCE_FLOPS[node.attrs["reduce"]]
    flops = (body_flops(node.attrs["fn"]) + per_in) * numel(shape) + per_out * numel(node.shape)
    return Cost(flops, moved(node))


def matmul_flops(a: Node, b: Node) -> sympy.Expr:
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    return 2 * numel(batch) * a.shape[-2] * a.shape[-1] * b.shape[-1]


def einsum_flops(terms, operands) -> sympy.Expr:
    """Every index combination once; per combination k-1 multiplies and 1 add (k operands)."""
    sizes = {}
    for t, o in zip(terms, operands):
        sizes.update(zip(t, o.shape))
    return len(operands) * numel(tuple(sizes.values()))


def _matmul(node):
    return Cost(matmul_flops(*node.inputs), moved(node))


def _einsum(node):
    return Cost(einsum_flops(node.attrs["terms"], node.inputs), moved(node))


def _fused_contraction(node):
    """The A,B contraction, then the epilogue body once per result element."""
    a, b = node.inputs[:2]
    kind = node.attrs["contraction"]
    flops = matmul_flops(a, b) if kind[0] == "matmul" else einsum_flops(kind[1], (a, b))
    flops += body_flops(node.attrs["epilogue"]) * numel(node.shape)
    return Cost(flops, moved(node))


def _one_hot(node):
    return Cost(numel(node.shape), moved(node))  # one compare per element


RULES = {
    "input": _free, "constant": _free, "transpose": _free, "reshape": _free,
    "broadcast_to": _free, "elementwise": _elementwise, "sum": _reduce, "max": _reduce,
    "logsumexp": _reduce, "fused_reduce": _fused_reduce, "matmul": _matmul,
    "einsum": _einsum, "fused_contraction": _fused_contraction, "one_hot": _one_hot,
}


def node_cost(node: Node) -> Cost:
    """FLOPs and bytes of one node, as sympy expressions in the symbolic dims."""
    try:
        rule = RULES[node.op]
    except KeyError:
        raise ValueError(f"cost: no cost rule for op {node.op!r}; ops with one: "
                         f"{', '.join(sorted(RULES))}") from None
    return rule(node)


# ---- reports -------------------------------------------------------------------------------
def kernels_of(graph: Graph) -> list[Node]:
    """The nodes that launch work (graphc.passes.kernels defines them, where present)."""
    try:
        from .passes.kernels import kernels
    except ImportError:
        return [n for n in graph.nodes() if n.op not in ("input", "constant") + LAYOUT]
    return list(kernels(graph))


def describe(node: Node) -> str:
    """A kernel's name in a table: its op, its body's name, or the ops it fused."""
    fused = node.attrs.get("fused")
    if fused:
        return f"{node.op}[{'+'.join(fused)}]"
    if node.op == "elementwise":
        return node.attrs["fn"].name
    return node.op


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


class CostReport:
    """Cost per kernel of one graph: `.rows` [(node, Cost)], totals `.flops` and `.bytes`."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.rows = [(n, node_cost(n)) for n in kernels_of(graph)]
        self.flops = sympy.Add(*[c.flops for _, c in self.rows])
        self.bytes = sympy.Add(*[c.bytes for _, c in self.rows])

    @property
    def total(self) -> Cost:
        return Cost(self.flops, self.bytes)

    def intensities(self) -> list:
        """[(kernel, FLOPs per byte)], in execution order."""
        return [(n, c.intensity) for n, c in self.rows]

    def evaluate(self, dims: dict) -> tuple[float, float]:
        """(FLOPs, bytes) as numbers for dim sizes such as {"B": 64}."""
        subs = _subs(dims)
        return float(self.flops.subs(subs)), float(self.bytes.subs(subs))

    def table(self, dims: dict | None = None) -> str:
        """One line per kernel, and the totals; numbers when `dims` binds every dim."""
        show = (lambda e: _num(e, _subs(dims))) if dims else str
        lines = [f"{'#':>3}  {'kernel':<32} {'shape':<14} {'FLOPs':<22} {'bytes':<26} FLOP/byte"]
        for k, (n, c) in enumerate(self.rows):
            lines.append(f"{k:>3}  {clip(describe(n), 32):<32} {fmt_shape(n.shape):<14} "
                         f"{show(c.flops):<22} {show(c.bytes):<26} {show(c.intensity)}")
        lines.append(f"total: {len(self.rows)} kernels, FLOPs = {show(self.flops)}, "
                     f"bytes = {show(self.bytes)}")
        return "\n".join(lines)

    __str__ = table

    def __repr__(self):
        return f"<CostReport {len(self.rows)} kernels flops={self.flops} bytes={self.bytes}>"


def _subs(dims: dict) -> dict:
    from .ir.shapes import dim
    return {dim(k) if isinstance(k, str) else k: v for k, v in dims.items()}


def _num(expr, subs) -> str:
    v = sympy.sympify(expr).subs(subs)
    return f"{float(v):.4g}" if v.is_number else str(v)


class CostComparison:
    """The cost of a graph before (`.raw`) and after (`.optimized`) the pass pipeline."""

    def __init__(self, raw: CostReport, optimized: CostReport):
        self.raw, self.optimized = raw, optimized

    def __str__(self):
        return (f"raw graph\n{self.raw.table()}\n\noptimized graph\n{self.optimized.table()}"
                f"\n\nkernels {len(self.raw.rows)} -> {len(self.optimized.rows)}; bytes moved "
                f"{self.raw.bytes} -> {self.optimized.bytes}")


def _graph(outputs) -> Graph:
    if isinstance(outputs, Graph):
        return outputs
    return Graph.of([outputs] if isinstance(outputs, Node) else list(outputs))


def cost(graph_or_outputs) -> CostReport:
    """The cost of a graph as it is (no passes run): what `CompiledFunction.cost()` gives."""
    return CostReport(_graph(graph_or_outputs))


def compare(outputs, passes=None, opt_level=None) -> CostComparison:
    """`gc.cost`: the cost before and after the pass pipeline (or `passes` / `opt_level`).

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 784)); W = gc.tensor("W", (784, 256))
    >>> gc.cost(gc.relu(x @ W)).raw.flops  # 2*B*784*256 for the matmul, 1*B*256 for relu
    401664*B
    """
    from .passes.pipeline import optimize
    raw = _graph(outputs)
    graph, _ = optimize(raw, passes=passes, opt_level=opt_level)
    return CostComparison(CostReport(raw), CostReport(graph))
