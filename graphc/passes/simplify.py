"""simplify: rewrites that are exact for every float input, applied bottom-up until none fires.

Each rule is data: a name, the identity it applies (what `gc.explain` shows), and a function
`apply(node, ctx) -> Node | None`. Every identity here holds bit for bit in IEEE arithmetic,
for NaN, +-Inf, +-0, subnormals and empty axes: `x * 1 = x`, `x - 0 = x`, `x + (-0.0) = x`
(but not `x + 0`, which turns -0 into +0), `-(-x) = x`, layout chains, uniform constants
read as literals in the node's own dtype. Rewrites that change values on some inputs
(`x - x = 0`, `x * 0 = 0`, `exp(log x) = x`, reassociation) are fast-math, in
graphc/passes/fast_math.py, and run only when asked (`gc.compile(..., fast_math=True)`).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from ..ir.body import Lit
from ..ir.graph import Graph
from ..ir.node import Node, building_like, make
from ..ir.op import is_layout, is_reduction
from ..ir.shapes import numel
from ..ops import elementwise as ew
from ..ops.common import is_float
from ..ops.elementwise import apply_fn, apply_stmt
from ..ops.reduce import REDUCTIONS
from .patterns import (broadcast, is_swap_last, one_op, reshape, same_shape, scalar_constant,
                       uniform_value)
from .rewrite import keep, note, rewrite

MAX_ROUNDS = 50  # each round rewrites bottom-up once; real graphs settle in two or three
MAX_LOCAL = 20  # rules applied to one node in a row before moving on


@dataclass(frozen=True)
class Rule:
    name: str
    identity: str
    apply: Callable  # (node, ctx) -> Node | None


# ---- elementwise bodies and their operands -------------------------------------------------
def inline_constant(node, ctx):
    """An operand that is one number everywhere becomes a literal of the statement. The
    statement keeps its dtypes, and a literal is converted to them as the constant was, so
    the value is the same bit for bit."""
    op = one_op(node)
    if op is None:
        return None
    fn, operands = op
    values = [uniform_value(o) if isinstance(o, Node) else None for o in operands]
    if all(v is None for v in values):
        return None
    stmt = node.attrs["body"].single
    new = [Lit(v) if v is not None else o for v, o in zip(values, operands)]
    return broadcast(apply_stmt(stmt, new), node.shape)


def literal_is(a, *values) -> bool:
    """`a` is a Lit equal to one of `values` (signed zeros told apart)."""
    return isinstance(a, Lit) and a.kind != "dim" and any(
        a.value == v and math.copysign(1, a.value) == math.copysign(1, v) for v in values)


# op -> (position of the operand kept, position of the literal, the literals that keep it)
NEUTRAL = {ew.MUL: [(0, 1, (1,)), (1, 0, (1,))], ew.DIV: [(0, 1, (1,))],
           ew.SUB: [(0, 1, (0,))], ew.ADD: [(0, 1, (-0.0,)), (1, 0, (-0.0,))],
           ew.POW: [(0, 1, (1,))]}


def neutral_literal(node, ctx):
    """x * 1 = x, x / 1 = x, x - 0 = x, x + (-0.0) = x, x ** 1 = x, exactly (not x + 0:
    -0 + 0 is +0)."""
    op = one_op(node)
    if op is None or op[0] not in NEUTRAL:
        return None
    fn, operands = op
    for keep_at, lit_at, neutral in NEUTRAL[fn]:
        x, c = operands[keep_at], operands[lit_at]
        if isinstance(x, Node) and literal_is(c, *neutral) and x.dtype == node.dtype:
            return broadcast(x, node.shape)
    return None


def cast_to_own_dtype(node, ctx):
    """astype(x, dtype of x) = x."""
    op = one_op(node)
    if op is None or op[0] is not ew.CAST or not isinstance(op[1][0], Node):
        return None
    x = op[1][0]
    return broadcast(x, node.shape) if x.dtype == node.dtype else None


def neg_neg(node, ctx):
    """-(-x) = x: negation flips the sign bit, twice is the identity (NaN included)."""
    op = one_op(node)
    if op is None or op[0] is not ew.NEG or not isinstance(op[1][0], Node):
        return None
    inner = one_op(op[1][0])
    if inner is None or inner[0] is not ew.NEG or not isinstance(inner[1][0], Node):
        return None
    x = inner[1][0]
    return broadcast(x, node.shape) if x.dtype == node.dtype else None


def elementwise_of_broadcast(node, ctx):
    """f(broadcast(x)) = broadcast(f(x)) for a one-operand f: f runs on x's elements only
    (the cotangent of a mean is a scalar broadcast to (B,); -g need not run B times). Only
    where nothing else reads the broadcast, so no node is added."""
    if node.op != "elementwise" or len(node.inputs) != 1 or node.inputs[0].op != "broadcast_to" \
            or ctx.uses(node.inputs[0]) > 1:
        return None
    x = node.inputs[0].inputs[0]
    return broadcast(make("elementwise", (x,), **node.attrs.as_dict()), node.shape)


def drop_stop_gradient(node, ctx):
    """stop_gradient(x) has x's values: a compiled graph has no more gradients to take."""
    return node.inputs[0] if node.op == "stop_gradient" else None


# ---- layout -------------------------------------------------------------------------------
def noop_layout(node, ctx):
    """reshape/broadcast_to to its own shape, the identity transpose, a reduction over no
    axes (that keeps the dtype): each is its input."""
    if node.op in ("reshape", "broadcast_to") or (node.op in REDUCTIONS
                                                    and node.attrs["axes"] == ()):
        x = node.inputs[0]
        return x if same_shape(x.shape, node.shape) and x.dtype == node.dtype else None
    if node.op == "transpose" and node.attrs["perm"] == tuple(range(node.ndim)):
        return node.inputs[0]
    if node.op == "slice" and all(b == 0 and s == 1 for b, s in zip(node.attrs["begin"],
                                                                    node.attrs["step"])):
        x = node.inputs[0]
        return x if same_shape(x.shape, node.shape) else None
    return None


def transpose_transpose(node, ctx):
    if node.op != "transpose" or node.inputs[0].op != "transpose":
        return None
    inner = node.inputs[0]
    p, q = inner.attrs["perm"], node.attrs["perm"]
    perm = tuple(p[j] for j in q)
    x = inner.inputs[0]
    return x if perm == tuple(range(len(perm))) else make("transpose", (x,), perm=perm)


def reshape_reshape(node, ctx):
    if node.op != "reshape" or node.inputs[0].op != "reshape":
        return None
    return reshape(node.inputs[0].inputs[0], node.shape)


def slice_slice(node, ctx):
    """A slice of a slice reads x[b1 + (b2 + i*s2)*s1]: one slice, begin b1 + b2*s1 and
    step s1*s2 (the same elements, nothing computed)."""
    if node.op != "slice" or node.inputs[0].op != "slice":
        return None
    inner = node.inputs[0]
    b1, s1 = inner.attrs["begin"], inner.attrs["step"]
    b2, s2 = node.attrs["begin"], node.attrs["step"]
    return make("slice", inner.inputs, begin=tuple(p + q * r for p, q, r in zip(b1, b2, s1)),
                step=tuple(p * q for p, q in zip(s1, s2)), shape=node.shape)


def slice_of_pad(node, ctx):
    """Cutting out exactly the box a pad wrote its input into gives that input back."""
    if node.op != "slice" or node.inputs[0].op != "pad":
        return None
    pad = node.inputs[0]
    x = pad.inputs[0]
    same = pad.attrs["begin"] == node.attrs["begin"] and pad.attrs["step"] == node.attrs["step"]
    return x if same and same_shape(x.shape, node.shape) else None


def broadcast_broadcast(node, ctx):
    if node.op != "broadcast_to" or node.inputs[0].op != "broadcast_to":
        return None
    return broadcast(node.inputs[0].inputs[0], node.shape)


def layout_of_constant(node, ctx):
    """Layout ops over a uniform constant collapse to one broadcast of a scalar."""
    if not is_layout(node) or node.op == "stop_gradient":
        return None
    x = node.inputs[0]
    if x.op == "constant" and x.ndim == 0 and node.op == "broadcast_to":
        return None  # already canonical
    v = uniform_value(node)
    return None if v is None else broadcast(scalar_constant(v, node.dtype), node.shape)


# ---- reductions and contractions -----------------------------------------------------------
def broadcast_axes(node):
    """(x, axes made by the broadcast that the reduction reduces, other axes reduced) for a
    reduction of broadcast_to(x), else None."""
    if not is_reduction(node) or node.op not in REDUCTIONS or node.inputs[0].op != "broadcast_to":
        return None
    b = node.inputs[0]
    x, full, axes = b.inputs[0], b.shape, node.attrs["axes"]
    padded = (1,) * (len(full) - x.ndim) + tuple(x.shape)
    made = [k for k in axes if padded[k] == 1 and full[k] != 1]
    return (x, made, tuple(k for k in axes if padded[k] != 1)) if made else None


def reduce_over_broadcast(node, combine):
    """The reduction of broadcast_to(x) rewritten over x: the axes the broadcast made are
    combined by `combine(z, n)` (n: how many copies), the others reduced in x itself."""
    x, made, real = broadcast_axes(node)
    full = node.inputs[0].shape
    padded = (1,) * (len(full) - x.ndim) + tuple(x.shape)
    z = reshape(x, padded)
    if real:
        z = make(node.op, (z,), axes=real, keepdims=True)
    if not node.attrs["keepdims"]:
        z = reshape(z, tuple(d for k, d in enumerate(z.shape) if k not in node.attrs["axes"]))
    out = combine(z, numel([full[k] for k in made]))
    return None if out is None else broadcast(out, node.shape)


def max_of_broadcast(node, ctx):
    """max (or min) over copies of x is x (NaN included); only over axes of known, nonzero
    size (a maximum over no elements is an error, which the rewrite would hide)."""
    found = broadcast_axes(node) if node.op in ("max", "min") else None
    if found is None or not all(node.inputs[0].shape[k].is_number for k in found[1]):
        return None
    return reduce_over_broadcast(node, lambda z, n: z)


def integer_sum_of_broadcast(node, ctx):
    """sum over n copies of an integer x is n * x in int64: integer addition is exact (and
    wraps the same way), so only for integer and bool tensors; floats are fast-math."""
    found = broadcast_axes(node) if node.op == "sum" else None
    if found is None or is_float(found[0].dtype):
        return None
    return reduce_over_broadcast(
        node, lambda z, n: apply_fn(ew.MUL, [z, Lit(n)], dtype=node.dtype))


def transpose_of_matmul(node, ctx):
    """(A@B)ᵀ = Bᵀ@Aᵀ (the same dot products), where an operand is itself a transpose (so
    two transposes cancel) and the product has no other use (else it would be computed twice)."""
    if not is_swap_last(node) or node.inputs[0].op != "matmul" or ctx.uses(node.inputs[0]) > 1:
        return None
    a, b = node.inputs[0].inputs
    if not (is_swap_last(a) or is_swap_last(b)):
        return None
    out = make("matmul", (_swapped(b), _swapped(a)))
    return out if same_shape(out.shape, node.shape) else None


def _swapped(t: Node) -> Node:
    if is_swap_last(t):
        return t.inputs[0]
    n = t.ndim
    return make("transpose", (t,), perm=tuple(range(n - 2)) + (n - 1, n - 2))


RULES = [
    # f(.., c, ..) = f(.., literal c, ..) for a uniform constant c, converted as c was
    Rule("inline_constant", "f(x, c) = f(x, literal c) for a uniform constant c",
         inline_constant),
    Rule("neutral_literal", "x*1 = x/1 = x-0 = x+(-0.0) = x**1 = x", neutral_literal),
    Rule("cast_to_own_dtype", "astype(x, dtype(x)) = x", cast_to_own_dtype),
    Rule("neg_neg", "-(-x) = x", neg_neg),
    # f(broadcast(x)) = broadcast(f(x)): the same values, computed once per element of x
    Rule("elementwise_of_broadcast", "f(broadcast(x)) = broadcast(f(x))",
         elementwise_of_broadcast),
    Rule("drop_stop_gradient", "stop_gradient(x) = x (in value)", drop_stop_gradient),
    # reshape(x, shape(x)) = x, transpose(x, identity) = x, sum(x, axes=()) = x
    Rule("noop_layout", "reshape(x, shape(x)) = x", noop_layout),
    Rule("transpose_transpose", "(xᵀ)ᵀ = x", transpose_transpose),
    Rule("reshape_reshape", "reshape(reshape(x, s), t) = reshape(x, t)", reshape_reshape),
    Rule("broadcast_broadcast", "broadcast(broadcast(x, s), t) = broadcast(x, t)",
         broadcast_broadcast),
    Rule("slice_slice", "x[b1::s1][b2::s2] = x[b1 + b2*s1 :: s1*s2]", slice_slice),
    Rule("slice_of_pad", "pad(x, box)[box] = x", slice_of_pad),
    Rule("layout_of_constant", "reshape(c) = transpose(c) = broadcast_to(c)",
         layout_of_constant),
    Rule("max_of_broadcast", "max(broadcast(x), broadcast axes) = x (and min)",
         max_of_broadcast),
    Rule("integer_sum_of_broadcast", "sum(broadcast(x), broadcast axes) = n*x for integer x",
         integer_sum_of_broadcast),
    Rule("transpose_of_matmul", "(A@B)ᵀ = Bᵀ@Aᵀ", transpose_of_matmul),
]


class Round:
    """One bottom-up round of `rules`: how many users each node has (rules that would
    duplicate work ask), and which rules fired."""

    def __init__(self, graph: Graph, rules):
        self.rules = rules
        self.fanout = Counter(id(i) for n in graph.nodes() for i in n.inputs)
        self.fanout.update(id(o) for o in graph.outputs)
        self._uses: Counter = Counter()
        self.fired: Counter = Counter()

    def uses(self, node: Node) -> int:
        return self._uses.get(id(node), 1)

    def visit(self, old: Node, new_inputs: tuple) -> Node:
        node = keep(old, new_inputs)
        with building_like(old):
            node = self._simplify(node)
        self._uses[id(node)] += self.fanout[id(old)]
        return node

    def _simplify(self, node: Node) -> Node:
        for _ in range(MAX_LOCAL):
            for rule in self.rules:
                out = rule.apply(node, self)
                if out is not None and out is not node:
                    if out.dtype != node.dtype or not same_shape(out.shape, node.shape):
                        raise AssertionError(f"rule {rule.name} changed {node!r} into {out!r}")
                    self.fired[rule.name] += 1
                    node = out
                    break
            else:
                return node
        return node


def apply_rules(graph: Graph, rules) -> Graph:
    """Apply `rules` bottom-up until none fires (at most MAX_ROUNDS rounds)."""
    for _ in range(MAX_ROUNDS):
        rnd = Round(graph, rules)
        graph = rewrite(graph, rnd.visit)
        for name, count in rnd.fired.items():
            note(name, count)
        if not rnd.fired:
            break
    return graph


def simplify(graph: Graph) -> Graph:
    """Apply the exact RULES bottom-up until none fires.

    >>> import graphc as gc
    >>> x = gc.tensor("x", (3,)); g = simplify(gc.Graph.of([gc.neg(gc.neg(x))]))
    >>> g.outputs[0] is x
    True
    """
    return apply_rules(graph, RULES)


RULES_BY_NAME = {r.name: r for r in RULES}
