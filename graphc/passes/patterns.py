"""Small matchers and builders the algebraic passes share (simplify, dce, fold).

Matchers read a node and answer a question about its value ("is it a uniform constant?",
"is its body -x?"); builders make the canonical node for a value ("zeros of this shape",
"x broadcast to that shape") and skip no-op steps so rewrites do not add layout noise.
"""
from __future__ import annotations

import math

import numpy as np
import sympy

from ..ir.node import Const, Node, make
from ..ir.scalar import ScalarFn
from ..ir.shapes import dims_equal

X = sympy.Symbol("x")  # the operand in the patterns below
LAYOUT = ("reshape", "transpose", "broadcast_to")
# a literal this large stays a float: as a Python int numpy would overflow int64 with it
_EXACT_LIMIT = 1024


# ---- matchers ------------------------------------------------------------------------------
def uniform_value(node: Node):
    """The one value every element of `node` has, if it is a constant (seen through layout
    ops) with all elements equal and finite; else None."""
    while node.op in LAYOUT:
        node = node.inputs[0]
    if node.op != "constant":
        return None
    a = node.attrs["value"].array
    if a.size == 0:
        return None
    first = a.flat[0]
    if not np.all(a == first) or (a.dtype.kind == "f" and not np.isfinite(first)):
        return None
    return first.item()


def literal(value) -> sympy.Expr:
    """A Python number as a sympy literal; integral values become exact integers, so sympy's
    own arithmetic applies x*1 = x and x+0 = x (it keeps 1.0*x as it is)."""
    if isinstance(value, (bool, int)):
        return sympy.Integer(int(value))
    if float(value).is_integer() and abs(value) <= _EXACT_LIMIT:
        return sympy.Integer(int(value))
    return sympy.Float(float(value))


def exact_integers(expr: sympy.Expr) -> sympy.Expr:
    """`expr` with its integral float literals (1.0, 2.0) as exact integers, so sympy's own
    arithmetic applies 1*x = x, which it does not to 1.0*x. For bodies over float operands
    only: int x**2.0 is a float, int x**2 could overflow."""
    swap = {f: literal(float(f)) for f in expr.atoms(sympy.Float)}
    return expr.xreplace({f: i for f, i in swap.items() if isinstance(i, sympy.Integer)})


def body(node: Node):
    """(expr, operands) of an elementwise node that only computes (no dtype change), else None."""
    if node.op != "elementwise" or "dtype" in node.attrs:
        return None
    return node.attrs["fn"].expr, node.inputs


def unary_body(node: Node):
    """The body of a one-operand elementwise node, written in X; else None."""
    b = body(node)
    if b is None or len(node.inputs) != 1:
        return None
    return b[0].xreplace({node.attrs["fn"].params[0]: X})


# sympy's values for 1/0, log(0), 0*oo: no float has them (1/0 is +inf or -inf by the sign of
# the zero, which sympy's zoo forgets) and no printer writes them as code
NONFINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)


def nonfinite(expr: sympy.Expr) -> bool:
    """True where substituting a literal made a body sympy cannot evaluate as floats do
    (x/0 -> zoo*x): the rewrite must not happen, the operand stays."""
    return expr.has(*NONFINITE)


def used_params(fn: ScalarFn) -> list[bool]:
    free = fn.expr.free_symbols
    return [p in free for p in fn.params]


def is_swap_last(node: Node) -> bool:
    """A transpose that swaps the last two axes and keeps the others (what .T of a matrix is)."""
    if node.op != "transpose":
        return False
    n = node.ndim
    return n >= 2 and node.attrs["perm"] == tuple(range(n - 2)) + (n - 1, n - 2)


def same_shape(a, b) -> bool:
    return len(a) == len(b) and all(dims_equal(p, q) for p, q in zip(a, b))


def known_nonnegative(node: Node, depth: int = 6) -> bool:
    """True only where every element of `node` is provably >= 0 (or nan): conservative."""
    if depth == 0:
        return False
    if node.op in LAYOUT or node.op in ("sum", "max"):
        return known_nonnegative(node.inputs[0], depth - 1)
    if node.op == "constant":
        return bool(np.all(node.attrs["value"].array >= 0))
    if node.op == "one_hot":
        return True
    if node.op in ("matmul", "einsum"):
        return all(known_nonnegative(i, depth - 1) for i in node.inputs)
    if node.op == "elementwise":
        fn = node.attrs["fn"]
        reals = {}  # one real symbol per distinct operand: x*x reads one value twice
        for i in node.inputs:
            reals.setdefault(id(i), sympy.Dummy(
                real=True, nonnegative=known_nonnegative(i, depth - 1) or None))
        expr = fn.expr.xreplace({p: reals[id(i)] for p, i in zip(fn.params, node.inputs)})
        return _nonnegative(expr)
    return False


def _nonnegative(expr) -> bool:
    if isinstance(expr, sympy.Piecewise):  # relu: each branch >= 0, or only taken when it is
        return all(_nonnegative(e) or c in (e > 0, e >= 0) for e, c in expr.args)
    return expr.is_nonnegative is True


# ---- builders ------------------------------------------------------------------------------
def reshape(x: Node, shape) -> Node:
    return _relayout("reshape", x, shape)  # reshape(reshape(x, s), t) = reshape(x, t)


def broadcast(x: Node, shape) -> Node:
    return _relayout("broadcast_to", x, shape)  # broadcast(broadcast(x, s), t) = broadcast(x, t)


def _relayout(op: str, x: Node, shape) -> Node:
    """`op` of x to `shape`, looking through a chain of the same op: only the last one counts."""
    if same_shape(x.shape, shape):
        return x
    while x.op == op:
        x = x.inputs[0]
    return x if same_shape(x.shape, shape) else make(op, (x,), shape=tuple(shape))


def scalar_constant(value, dtype: str) -> Node:
    return make("constant", (), value=Const(np.asarray(value, dtype=dtype)))


def filled(expr: sympy.Expr, shape, dtype: str) -> Node:
    """A tensor of `shape` with every element `expr` (a number, or one in symbolic dims such
    as 1/B, which lives in an elementwise body over a scalar constant it does not read:
    graphc has no zero-operand kernels)."""
    if not expr.free_symbols:
        value = complex(expr)
        value = value.real if value.imag == 0 else math.nan
        return broadcast(scalar_constant(value, dtype), shape)
    carrier = scalar_constant(0, dtype)
    fn = ScalarFn("filled", (X,), expr)
    return broadcast(elementwise(fn, (carrier,), dtype), shape)


def elementwise(fn: ScalarFn, operands, dtype: str, attrs=None) -> Node:
    """An elementwise node of `dtype`, with a dtype attribute only where inference differs
    (other attributes, such as a fused kernel's `fused`, pass through)."""
    attrs = {k: v for k, v in (attrs or {}).items() if k not in ("fn", "dtype")}
    node = make("elementwise", operands, fn=fn, **attrs)
    if node.dtype == dtype:
        return node
    return make("elementwise", operands, fn=fn, dtype=dtype, **attrs)


def scaled(x: Node, expr_in_x: sympy.Expr, name: str) -> Node:
    """expr(x) elementwise, keeping x's dtype (x*B stays int for int x)."""
    if expr_in_x == X:
        return x
    return elementwise(ScalarFn(name, (X,), expr_in_x), (x,), x.dtype)
