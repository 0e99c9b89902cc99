"""Symbolic cost: FLOPs and bytes moved per node, as sympy expressions in the symbolic dims.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 784)); W = gc.tensor("W", (784, 256))
    >>> node_cost(x @ W).flops
    401408*B

Each op declares its FLOPs (the `flops` rule of its OpDef, graphc/ops). The model, so numbers
can be checked by hand:
- FLOPs: a multiply-add is 2 (an (M,K)@(K,N) matmul is 2*M*K*N); an elementwise body costs,
  per element, `sympy.count_ops` of each statement's formula (x*y + z is 2); a sum or max
  costs 1 per input element, a logsumexp 4 (max, subtract, exp, add) plus 2 per output
  element (log, add back).
- Bytes: each operand's storage read once (a broadcast or transposed view reads the tensor
  under it, a tensor read twice by one kernel is read once) plus the result written once.
- Sources and layout views (transpose, reshape, broadcast_to) launch no work and cost 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from .ir.graph import Graph
from .ir.node import Node
from .ir.op import get_op, is_layout
from .ir.shapes import fmt_shape, numel

ZERO = sympy.Integer(0)


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
    while is_layout(node):
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


def node_cost(node: Node) -> Cost:
    """FLOPs and bytes of one node, as sympy expressions in the symbolic dims. The FLOPs are
    the op's own `flops` rule (its declaration); sources and layout views cost nothing."""
    op = get_op(node.op)
    if op.kind in ("source", "layout"):
        return Cost(ZERO, ZERO)
    if op.flops is None:
        raise ValueError(f"cost: op {node.op!r} declares no flops rule")
    return Cost(sympy.sympify(op.flops(node)), moved(node))


# ---- reports -------------------------------------------------------------------------------
def kernels_of(graph: Graph) -> list[Node]:
    """The nodes that launch work (everything but sources and layout views)."""
    from .passes.kernels import kernels
    return list(kernels(graph))


def describe(node: Node) -> str:
    """A kernel's name in a table: its op, its body's name, or the ops it fused."""
    fused = node.attrs.get("fused")
    if fused:
        return f"{node.op}[{'+'.join(fused)}]"
    if node.op == "elementwise":
        return node.attrs["body"].name
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


def compare(outputs, passes=None, opt_level=None, fast_math: bool = False) -> CostComparison:
    """`gc.cost`: the cost before and after the pass pipeline (or `passes` / `opt_level`).

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 784)); W = gc.tensor("W", (784, 256))
    >>> gc.cost(gc.relu(x @ W)).raw.flops  # 2*B*784*256 for the matmul, 1*B*256 for relu
    401664*B
    """
    from .passes.pipeline import optimize
    raw = _graph(outputs)
    graph, _ = optimize(raw, passes=passes, opt_level=opt_level, fast_math=fast_math)
    return CostComparison(CostReport(raw), CostReport(graph))
