"""simplify_fast_math: algebra that is true of real numbers but not of floats, on request only.

Like a C compiler's `-ffast-math`, these rewrites may change results where the graph meets
NaN, infinities, signed zeros, overflow or rounding: `x - x = 0` (inf - inf is nan),
`x * 0 = 0` (inf * 0 is nan), `x + 0 = x` (-0 + 0 is +0), `exp(log x) = x` (log of a negative
is nan), `(x * y) / y = x`, `(x + y) - x = y` (the TwoSum error term), `log(softmax(x)) =
log_softmax(x)` (softmax can underflow to 0), `sum` of n copies of x = n * x (n additions
round n times). `gc.compile(..., fast_math=True)` adds this pass to the pipeline, and
`gc.explain(..., fast_math=True)` reports each rewrite that fired. On finite inputs away from
overflow, results agree with the exact pipeline up to rounding.
"""
from __future__ import annotations

import math

import sympy

from ..ir.body import Lit
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.scalar import ARITHMETIC, ScalarFn
from ..ir.terms import shared_terms
from ..ops import elementwise as ew
from ..ops.common import is_float
from ..ops.elementwise import apply_fn
from .patterns import broadcast, filled, one_op, same_shape, uniform_value
from .simplify import (RULES, Rule, literal_is, apply_rules, broadcast_axes,
                       reduce_over_broadcast)

DEPTH = 2  # producers composed into a node's formula: enough for (x*y)/y, bounded in cost
_NONFINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)


def add_zero(node, ctx):
    """x + 0 = x (false for x = -0.0)."""
    op = one_op(node)
    if op is None or op[0] is not ew.ADD:
        return None
    for keep_at in (0, 1):
        x, c = op[1][keep_at], op[1][1 - keep_at]
        if isinstance(x, Node) and literal_is(c, 0, 0.0) and x.dtype == node.dtype:
            return broadcast(x, node.shape)
    return None


def times_zero(node, ctx):
    """x * 0 = 0, of the result's shape and dtype (false for x = inf or nan)."""
    op = one_op(node)
    if op is None or op[0] is not ew.MUL or not is_float(node.dtype):
        return None
    if any(literal_is(c, 0, 0.0, -0.0) for c in op[1]):
        return filled(0, node.shape, node.dtype)
    return None


def _arith(node) -> bool:
    """A float op whose formula sympy may compose: not one that repeats terms, whose tree
    sympy's evaluation would walk, exponential in its depth (graphc/ir/terms.py)."""
    op = one_op(node)
    return op is not None and op[0].kind in ARITHMETIC and is_float(node.dtype) and \
        node.attrs["body"].single.compute == node.dtype and not shared_terms(op[0].expr)[0]


def algebra(node, ctx):
    """Compose the node's formula with its elementwise producers' (DEPTH levels) and let
    sympy evaluate: x - x = 0, x / x = 1, (x*y)/y = x, (x+y)-x = y, exp(log x) = x,
    log(exp x) = x. Taken only where the result does less work than the node did."""
    if not _arith(node):
        return None
    leaves: dict[int, tuple] = {}

    def expr_of(n, depth):
        if isinstance(n, Lit):
            return sympy.Float(n.value) if n.kind == "float" else sympy.sympify(n.value)
        if depth > 0 and _arith(n) and n.dtype == node.dtype:
            fn, operands = one_op(n)
            return fn.expr.xreplace({p: expr_of(o, depth - 1)
                                     for p, o in zip(fn.params, operands)})
        if id(n) not in leaves:
            leaves[id(n)] = (sympy.Dummy(f"v{len(leaves)}", real=True), n)
        return leaves[id(n)][0]

    before = int(sympy.count_ops(one_op(node)[0].expr))
    expr = expr_of(node, DEPTH)
    if expr.has(*_NONFINITE):
        return None
    by_symbol = {s: n for s, n in leaves.values()}
    if expr in by_symbol:
        x = by_symbol[expr]
        return broadcast(x, node.shape) if x.dtype == node.dtype else None
    if expr.is_number:
        return filled(float(expr), node.shape, node.dtype) if expr.is_real else None
    if int(sympy.count_ops(expr)) >= before:
        return None
    used = [(s, n) for s, n in leaves.values() if s in expr.free_symbols]
    params = tuple(sympy.Symbol(f"x{k}") for k in range(len(used)))
    fn = ScalarFn("algebra", params, expr.xreplace({s: p for (s, _), p in zip(used, params)}))
    out = apply_fn(fn, [n for _, n in used], dtype=node.dtype)
    return broadcast(out, node.shape) if same_shape(out.shape, node.shape) or \
        len(out.shape) <= len(node.shape) else None


def log_of_softmax(node, ctx):
    """log(exp(t) / sum(exp(t))) = t - log(sum(exp(t))): finite where softmax underflows."""
    op = one_op(node)
    if op is None or op[0] is not ew.LOG or not isinstance(op[1][0], Node):
        return None
    div = one_op(op[1][0])
    if div is None or div[0] is not ew.DIV or not all(isinstance(o, Node) for o in div[1]):
        return None
    e, s = div[1]
    s = s.inputs[0] if s.op == "broadcast_to" else s
    exp = one_op(e)
    if exp is None or exp[0] is not ew.EXP or s.op != "sum" or not s.attrs["keepdims"] \
            or s.inputs[0].key != e.key or not isinstance(exp[1][0], Node):
        return None
    out = apply_fn(ew.SUB, [exp[1][0], apply_fn(ew.LOG, [s])])
    return out if out.dtype == node.dtype and same_shape(out.shape, node.shape) else None


def float_sum_of_broadcast(node, ctx):
    """sum of n copies of x = n * x (the additions rounded n times, the product once)."""
    found = broadcast_axes(node) if node.op == "sum" else None
    if found is None or not is_float(found[0].dtype):
        return None
    return reduce_over_broadcast(node, lambda z, n: apply_fn(ew.MUL, [z, Lit(n)]))


def logsumexp_of_broadcast(node, ctx):
    """logsumexp of n copies of x = x + log(n), for a known n."""
    found = broadcast_axes(node) if node.op == "logsumexp" else None
    if found is None:
        return None

    def combine(z, n):
        return apply_fn(ew.ADD, [z, Lit(math.log(int(n)))]) if n.is_number else None
    return reduce_over_broadcast(node, combine)


def zero_contraction(node, ctx):
    """0 @ B = A @ 0 = 0 (false where the other operand holds inf or nan)."""
    if node.op not in ("matmul", "einsum"):
        return None
    if not any(uniform_value(i) == 0 for i in node.inputs):
        return None
    return filled(0, node.shape, node.dtype)


FAST_MATH_RULES = [
    Rule("add_zero", "x + 0 = x", add_zero),
    Rule("times_zero", "x * 0 = 0", times_zero),
    Rule("algebra", "sympy algebra: x - x = 0, x/x = 1, exp(log x) = x, (x*y)/y = x", algebra),
    Rule("log_softmax", "log(exp(t)/sum(exp(t))) = t - log(sum(exp(t)))", log_of_softmax),
    Rule("sum_of_broadcast", "sum(broadcast(x), broadcast axes) = n*x", float_sum_of_broadcast),
    Rule("logsumexp_of_broadcast", "logsumexp(broadcast(x)) = x + log(n)",
         logsumexp_of_broadcast),
    Rule("zero_contraction", "0@B = A@0 = 0", zero_contraction),
]
FAST_MATH_RULES_BY_NAME = {r.name: r for r in FAST_MATH_RULES}


def simplify_fast_math(graph: Graph) -> Graph:
    """The exact rules and the fast-math ones, bottom-up until none fires.

    >>> import graphc as gc
    >>> x = gc.tensor("x", (3,)); g = simplify_fast_math(gc.Graph.of([x - x]))
    >>> g.outputs[0].op
    'broadcast_to'
    """
    return apply_rules(graph, FAST_MATH_RULES + RULES)
