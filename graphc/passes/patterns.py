"""Small matchers and builders the algebraic passes share (simplify, dce, fold, fusion).

Matchers read a node and answer a question about its value ("is it a uniform constant?",
"is it one op, and which?"); builders make the canonical node for a value ("zeros of this
shape", "x broadcast to that shape") and skip no-op steps so rewrites do not add layout noise.
"""
from __future__ import annotations

import numpy as np

from ..ir.body import Lit
from ..ir.node import Const, Node, make
from ..ir.op import is_layout
from ..ir.shapes import dims_equal


# ---- matchers ------------------------------------------------------------------------------
def uniform_value(node: Node):
    """The one value every element of `node` has, if it is a constant (seen through layout
    ops) with all elements equal; else None. NaN, infinities and -0.0 count: a literal
    carries them exactly."""
    while is_layout(node):
        node = node.inputs[0]
    if node.op != "constant":
        return None
    a = node.attrs["value"].array
    if a.size == 0:
        return None
    first = a.flat[0]
    same = np.array_equal(a, np.full_like(a, first), equal_nan=a.dtype.kind == "f")
    if not same or (a.dtype.kind == "f" and np.any(np.signbit(a) != np.signbit(first))):
        return None
    return first.item()


def one_op(node: Node):
    """(fn, operands) of an elementwise node whose body is one statement over its operands
    (operands are input nodes or Lits), else None."""
    if node.op != "elementwise":
        return None
    stmt = node.attrs["body"].single
    if stmt is None:
        return None
    return stmt.fn, [a if isinstance(a, Lit) else node.inputs[a] for a in stmt.args]


def is_swap_last(node: Node) -> bool:
    """A transpose that swaps the last two axes and keeps the others (what .T of a matrix is)."""
    if node.op != "transpose":
        return False
    n = node.ndim
    return n >= 2 and node.attrs["perm"] == tuple(range(n - 2)) + (n - 1, n - 2)


def same_shape(a, b) -> bool:
    return len(a) == len(b) and all(dims_equal(p, q) for p, q in zip(a, b))


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


def filled(value, shape, dtype: str) -> Node:
    """A tensor of `shape` with every element `value` (a number): a scalar broadcast."""
    return broadcast(scalar_constant(value, dtype), shape)


def epilogue_body(body, inputs, is_acc, acc_dtype: str):
    """(epilogue, extra operands): `body` over `inputs` rewritten as a body whose param 0 is
    an accumulator (inputs for which `is_acc(k)` holds read it) and whose other params are the
    remaining distinct inputs. Statements are copied as they are."""
    from ..ir.body import BodyBuilder
    b = BodyBuilder()
    acc = b.param(acc_dtype)
    extras, refs, args = [], {}, []
    for k, i in enumerate(inputs):
        if is_acc(k):
            args.append(acc)
            continue
        if id(i) not in refs:
            refs[id(i)] = b.param(i.dtype)
            extras.append(i)
        args.append(refs[id(i)])
    return b.build(b.inline(body, args)), extras
