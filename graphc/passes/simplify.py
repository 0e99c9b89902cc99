"""simplify: algebraic rewrites of graph structure, one table of rules, run to a fixed point.

Inside one elementwise body, algebra is sympy's job (it turns x*1 into x as it builds the
expression). These rules act where sympy cannot see: across nodes. A constant operand of 1
(the gradient seed), a negation fed by a negation, a transpose of a transpose, a sum over the
axes a broadcast made. Each rule is `apply(node, ctx) -> replacement | None`; its identity is
in the table beside it. `gc.explain` reports how often each fired.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import sympy

from ..ir.graph import Graph
from ..ir.node import Node, building_like, make
from ..ir.scalar import ScalarFn
from ..ir.shapes import numel
from ..ops.common import is_float
from ..ops.elementwise import SUB
from .patterns import (LAYOUT, X, body, broadcast, exact_integers, filled, is_swap_last,
                       known_nonnegative, literal, nonfinite, reshape, same_shape,
                       scalar_constant, scaled, unary_body, uniform_value, elementwise)
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
    """An operand that is one number everywhere becomes a literal of the body."""
    if node.op != "elementwise":
        return None
    fn = node.attrs["fn"]
    free = fn.expr.free_symbols
    subs = {}
    for p, operand in zip(fn.params, node.inputs):
        v = uniform_value(operand) if p in free else None
        if v is not None:
            subs[p] = literal(v)
    if not subs:
        return None
    kept = [(p, o) for p, o in zip(fn.params, node.inputs) if p not in subs]
    if not all(is_float(o.dtype) for _, o in kept):
        return None  # NumPy mixes int arrays with Python ints unlike with int arrays
    expr = fn.expr.xreplace(subs)
    if nonfinite(expr):
        return None  # x / c with c = 0: sympy says zoo*x, the float result is +-inf or nan
    if not kept:
        # all constant: a number is a constant; a body in dims (g/B of a mean's gradient
        # seed) stays, as graphc has no zero-operand kernels
        return None if expr.free_symbols else filled(expr, node.shape, node.dtype)
    new_fn = ScalarFn(fn.name, tuple(p for p, _ in kept), expr)
    out = elementwise(new_fn, [o for _, o in kept], node.dtype, node.attrs.as_dict())
    exact = expr in new_fn.params or not (expr.free_symbols & set(new_fn.params))
    if "dtype" in out.attrs and "dtype" not in node.attrs and not exact:
        return None  # the constant set the precision (f32 x * f64 c computes in f64): keep it
    return broadcast(out, node.shape)


def exact_literal(node, ctx):
    """Integral float literals (1.0, 0.0, 2.0) as exact integers, so 1.0*x becomes x (over
    float operands only: int x**2.0 is a float, int x**2 could overflow)."""
    if node.op != "elementwise" or not all(is_float(i.dtype) for i in node.inputs):
        return None
    fn = node.attrs["fn"]
    expr = exact_integers(fn.expr)
    if expr == fn.expr:
        return None
    new_fn = ScalarFn(fn.name, fn.params, expr, fn.grad_via_output)
    return make("elementwise", node.inputs, **{**node.attrs.as_dict(), "fn": new_fn})


def repeated_operand(node, ctx):
    """The same node read through two parameters becomes one parameter."""
    if node.op != "elementwise" or len(set(map(id, node.inputs))) == len(node.inputs):
        return None
    fn = node.attrs["fn"]
    first: dict[int, sympy.Symbol] = {}
    for p, o in zip(fn.params, node.inputs):
        first.setdefault(id(o), p)
    same = {p: first[id(o)] for p, o in zip(fn.params, node.inputs) if first[id(o)] != p}
    kept = [(p, o) for p, o in zip(fn.params, node.inputs) if p not in same]
    new_fn = ScalarFn(fn.name, tuple(p for p, _ in kept), fn.expr.xreplace(same))
    return elementwise(new_fn, [o for _, o in kept], node.dtype, node.attrs.as_dict())


def identity_body(node, ctx):
    """A body that is just one operand is that operand (broadcast to the result's shape)."""
    if node.op != "elementwise":
        return None
    fn = node.attrs["fn"]
    if fn.expr not in fn.params:
        return None
    operand = node.inputs[fn.params.index(fn.expr)]
    return broadcast(operand, node.shape) if operand.dtype == node.dtype else None


def constant_body(node, ctx):
    """A body that reads no operand is a constant of the result's shape and dtype."""
    if node.op != "elementwise":
        return None
    fn = node.attrs["fn"]
    if fn.expr.free_symbols & set(fn.params):
        return None
    is_carrier = (len(node.inputs) == 1 and node.inputs[0].op == "constant"
                  and node.inputs[0].ndim == 0 and fn.expr.free_symbols)
    return None if is_carrier else filled(fn.expr, node.shape, node.dtype)


def inverse_pair(outer, inner, valid=lambda x: True):
    """outer(inner(x)) = x, across two one-operand elementwise nodes."""
    def apply(node, ctx):
        if unary_body(node) != outer or unary_body(node.inputs[0]) != inner:
            return None
        x = node.inputs[0].inputs[0]
        ok = x.dtype == node.dtype and same_shape(x.shape, node.shape) and valid(x)
        return x if ok else None
    return apply


def elementwise_of_broadcast(node, ctx):
    """f(broadcast(x)) = broadcast(f(x)) for a one-operand f: f runs on x's elements only
    (the cotangent of a mean is a scalar broadcast to (B,); -g need not run B times). Only
    where nothing else reads the broadcast, so no node is added."""
    if node.op != "elementwise" or len(node.inputs) != 1 or node.inputs[0].op != "broadcast_to" \
            or ctx.uses(node.inputs[0]) > 1:
        return None
    x = node.inputs[0].inputs[0]
    small = make("elementwise", (x,), **node.attrs.as_dict())
    return broadcast(small, node.shape)


def log_of_softmax(node, ctx):
    """log(exp(x) / sum(exp(x))) -> x - logsumexp(x): no overflow for large x."""
    if unary_body(node) != sympy.log(X) or body(node.inputs[0]) is None:
        return None
    div = node.inputs[0]
    fn = div.attrs["fn"]
    if len(div.inputs) != 2 or fn.expr != fn.params[0] / fn.params[1]:
        return None
    e, s = div.inputs
    s = s.inputs[0] if s.op == "broadcast_to" else s
    if unary_body(e) != sympy.exp(X) or s.op != "sum" or not s.attrs["keepdims"] \
            or s.inputs[0].key != e.key:  # the same exp(x), possibly built twice
        return None
    x = e.inputs[0]
    lse = make("logsumexp", (x,), axes=s.attrs["axes"], keepdims=True)
    out = elementwise(SUB, (x, lse), node.dtype)
    return out if same_shape(out.shape, node.shape) else None


# ---- layout -------------------------------------------------------------------------------
def noop_layout(node, ctx):
    """reshape/broadcast_to to its own shape, the identity transpose, a reduction over no
    axes: each is its input."""
    if node.op in ("reshape", "broadcast_to") or (node.op in ("sum", "max", "logsumexp")
                                                    and node.attrs["axes"] == ()):
        x = node.inputs[0]
        return x if same_shape(x.shape, node.shape) else None
    if node.op == "transpose" and node.attrs["perm"] == tuple(range(node.ndim)):
        return node.inputs[0]
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


def broadcast_broadcast(node, ctx):
    if node.op != "broadcast_to" or node.inputs[0].op != "broadcast_to":
        return None
    return broadcast(node.inputs[0].inputs[0], node.shape)


def layout_of_constant(node, ctx):
    """Layout ops over a uniform constant collapse to one broadcast of a scalar."""
    if node.op not in LAYOUT:
        return None
    x = node.inputs[0]
    if x.op == "constant" and x.ndim == 0 and node.op == "broadcast_to":
        return None  # already canonical
    v = uniform_value(node)
    return None if v is None else broadcast(scalar_constant(v, node.dtype), node.shape)


# ---- reductions and contractions -----------------------------------------------------------
# reducing n copies of the same value v: what each reduction gives
COMBINE = {"sum": lambda n: X * n, "max": lambda n: X, "logsumexp": lambda n: X + sympy.log(n)}


def reduce_of_broadcast(node, ctx):
    """Over the axes a broadcast made, sum(broadcast(x)) = n*x, max = x, logsumexp =
    x + log(n) (n = the product of those axes' sizes); other axes are reduced in x itself."""
    if node.op not in COMBINE or node.inputs[0].op != "broadcast_to":
        return None
    b = node.inputs[0]
    x, full, axes = b.inputs[0], b.shape, node.attrs["axes"]
    padded = (sympy.Integer(1),) * (len(full) - x.ndim) + tuple(x.shape)
    made = [k for k in axes if padded[k] == 1 and full[k] != 1]
    if not made:
        return None
    z = reshape(x, padded)
    real = tuple(k for k in axes if padded[k] != 1)
    if real:
        z = make(node.op, (z,), axes=real, keepdims=True)
    if not node.attrs["keepdims"]:
        z = reshape(z, tuple(d for k, d in enumerate(z.shape) if k not in axes))
    z = scaled(z, COMBINE[node.op](numel([full[k] for k in made])), f"{node.op}_of_broadcast")
    return broadcast(z, node.shape)


def transpose_of_matmul(node, ctx):
    """(A@B)ᵀ = Bᵀ@Aᵀ, where an operand is itself a transpose (so two transposes cancel)
    and the product has no other use (else it would be computed twice)."""
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


def zero_contraction(node, ctx):
    if node.op not in ("matmul", "einsum"):
        return None
    if not any(uniform_value(i) == 0 for i in node.inputs):
        return None
    return filled(sympy.Integer(0), node.shape, node.dtype)


RULES = [
    # f(.., c, ..) = f with c as a literal: sympy then applies x*1 = x, x+0 = x, x*0 = 0
    Rule("inline_constant", "f(x, c) = f_c(x) for a uniform constant c", inline_constant),
    # 1.0*x = x: an integral float literal is exact, and sympy folds exact ones
    Rule("exact_literal", "1.0*x = 1*x = x", exact_literal),
    # f(a, a) = f'(a): x + x = 2*x, x*x = x**2 (one read of a instead of two)
    Rule("repeated_operand", "f(a, a) = f'(a)", repeated_operand),
    # x*1 = x, x+0 = x, x/1 = x: a body that is just one operand
    Rule("identity_body", "x*1 = x, x+0 = x", identity_body),
    # x*0 = 0: zeros of the result's shape and dtype (so a later matmul by it goes too)
    Rule("constant_body", "x*0 = 0 (shape kept)", constant_body),
    # -(-x) = x
    Rule("neg_neg", "-(-x) = x", inverse_pair(-X, -X)),
    # log(exp(x)) = x for every real x; in floats exp overflows past 709, the rewrite does not
    Rule("log_exp", "log(exp(x)) = x", inverse_pair(sympy.log(X), sympy.exp(X))),
    # exp(log(x)) = x only for x >= 0 (log of a negative is nan; log(0) = -inf, exp(-inf) = 0),
    # so only where x is known nonnegative: exp(..), x**2, relu(..), sums of those
    Rule("exp_log", "exp(log(x)) = x for x >= 0",
         inverse_pair(sympy.exp(X), sympy.log(X), known_nonnegative)),
    # f(broadcast(x)) = broadcast(f(x)): the same values, computed once per element of x
    Rule("elementwise_of_broadcast", "f(broadcast(x)) = broadcast(f(x))",
         elementwise_of_broadcast),
    # log(softmax(x)) = log_softmax(x) = x - logsumexp(x): stable where exp overflows
    # (softmax built by gc.softmax is exp(log_softmax), which log_exp already undoes)
    Rule("log_softmax", "log(exp(x)/sum(exp(x))) = x - logsumexp(x)", log_of_softmax),
    # reshape(x, shape(x)) = x, transpose(x, identity) = x, sum(x, axes=()) = x
    Rule("noop_layout", "reshape(x, shape(x)) = x", noop_layout),
    # (xᵀ)ᵀ = x; transpose(transpose(x, p), q) = transpose(x, p∘q)
    Rule("transpose_transpose", "(xᵀ)ᵀ = x", transpose_transpose),
    # reshape(reshape(x, s), t) = reshape(x, t)
    Rule("reshape_reshape", "reshape(reshape(x, s), t) = reshape(x, t)", reshape_reshape),
    # broadcast_to(broadcast_to(x, s), t) = broadcast_to(x, t)
    Rule("broadcast_broadcast", "broadcast(broadcast(x, s), t) = broadcast(x, t)",
         broadcast_broadcast),
    # layout(c) = broadcast_to(c) for a uniform constant c
    Rule("layout_of_constant", "reshape(c) = transpose(c) = broadcast_to(c)",
         layout_of_constant),
    # sum over broadcast axes of broadcast_to(x) = x * count
    Rule("sum_of_broadcast", "sum(broadcast(x), broadcast axes) = n*x", reduce_of_broadcast),
    # (A@B)ᵀ = Bᵀ@Aᵀ
    Rule("transpose_of_matmul", "(A@B)ᵀ = Bᵀ@Aᵀ", transpose_of_matmul),
    # 0@B = A@0 = 0
    Rule("zero_contraction", "0@B = A@0 = 0", zero_contraction),
]
RULES_BY_NAME = {r.name: r for r in RULES}


class _Round:
    """One bottom-up round: how many users each node has (rules that would duplicate work
    ask), and which rules fired."""

    def __init__(self, graph: Graph):
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
            for rule in RULES:
                out = rule.apply(node, self)
                if out is not None and out is not node:
                    self.fired[rule.name] += 1
                    node = out
                    break
            else:
                return node
        return node


def simplify(graph: Graph) -> Graph:
    """Apply RULES bottom-up until none fires (at most MAX_ROUNDS rounds).

    >>> import graphc as gc
    >>> x = gc.tensor("x", (3,)); g = simplify(gc.Graph.of([gc.neg(gc.neg(x))]))
    >>> g.outputs[0] is x
    True
    """
    for _ in range(MAX_ROUNDS):
        rnd = _Round(graph)
        graph = rewrite(graph, rnd.visit)
        for name, count in rnd.fired.items():
            note(name, count)
        if not rnd.fired:
            break
    return graph
