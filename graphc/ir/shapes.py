"""Symbolic shapes: a shape is a tuple of sympy integers and expressions in named dims.

A named dim ("B") is a positive integer sympy Symbol; it is bound to a size when a compiled
function is called, so one graph serves every batch size.
"""
from __future__ import annotations

import numbers
from functools import lru_cache
from typing import Iterable

import sympy

from ..errors import ShapeError

Shape = tuple  # tuple[sympy.Expr, ...]


@lru_cache(maxsize=4096)  # bounded, as every cache: names come from user code
def dim(name: str) -> sympy.Symbol:
    """The symbolic dimension called `name` (the same Symbol for the same name)."""
    if not name.isidentifier():
        raise ShapeError(f"a symbolic dimension name must be an identifier, got {name!r}")
    return sympy.Symbol(name, integer=True, positive=True)


def as_dim(d) -> sympy.Expr:
    """One shape entry (int, name, or sympy expression) as a sympy expression."""
    if isinstance(d, sympy.Expr) and not d.is_number:
        # a plain sympy.Symbol("B") is another symbol than dim("B"): (B,) + (B,) would not
        # broadcast, so every symbol becomes the dim of its name
        plain = {s: dim(s.name) for s in d.free_symbols if s != dim(s.name)}
        return d.xreplace(plain) if plain else d
    if isinstance(d, str):
        return dim(d)
    if isinstance(d, bool):
        raise ShapeError(f"a shape entry must be an int or a name, got {d!r}")
    try:
        i = int(d)
    except (TypeError, ValueError):
        raise ShapeError(f"a shape entry must be an int or a name, got {d!r}") from None
    if i != d or i < 0:
        raise ShapeError(f"a shape entry must be a non-negative int or a name, got {d!r}")
    return sympy.Integer(i)


def as_shape(shape) -> Shape:
    return tuple(as_dim(d) for d in shape_entries(shape))


def shape_entries(shape) -> tuple:
    """A shape as given (one size, or a sequence of them) as a tuple of its entries."""
    if isinstance(shape, (numbers.Integral, str, sympy.Expr)):
        return (shape,)
    try:
        return tuple(shape)
    except TypeError:
        raise ShapeError(f"a shape must be a tuple of ints and names, got {shape!r}") from None


def fmt_shape(shape: Iterable) -> str:
    """(B, 784) rather than (B, 784) with sympy reprs; a 1-tuple keeps its comma."""
    items = [str(d) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def numel(shape: Shape) -> sympy.Expr:
    return sympy.Mul(*shape) if shape else sympy.Integer(1)


def dims_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Whether two dims are equal for every size: numbers compared as numbers, polynomials
    by expanding their difference, anything else (floor divisions) by sympy.simplify, which
    costs milliseconds per call."""
    if a == b:
        return True
    diff = sympy.sympify(a - b)
    if diff.is_number:
        return diff == 0
    expanded = sympy.expand(diff)
    if expanded == 0 or expanded.is_polynomial():  # expanded, a polynomial is its normal form
        return expanded == 0
    return sympy.simplify(diff) == 0


def broadcast_shapes(op: str, *shapes: Shape) -> Shape:
    """NumPy broadcasting on symbolic shapes; a mismatch names the op and the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        size = sympy.Integer(1)
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0:
                continue
            d = s[k]
            if d == 1:
                continue
            if size == 1:
                size = d
            elif not dims_equal(size, d):
                shown = " and ".join(fmt_shape(s) for s in shapes)
                raise ShapeError(f"{op}: shapes {shown} do not broadcast "
                                 f"(axis {axis - ndim}: {size} vs {d})")
        out.append(size)
    return tuple(out)


def normalize_axes(op: str, axis, ndim: int) -> tuple[int, ...]:
    """axis=None -> all axes; an int or a tuple of ints, negative allowed, -> sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    out = []
    for a in axis:
        # NumPy integers are axes too (axis=np.int64(1)); floats and bools are not
        if isinstance(a, numbers.Integral) and not isinstance(a, bool):
            a = int(a)
        if not isinstance(a, int) or isinstance(a, bool):
            raise ShapeError(f"{op}: an axis must be an int (or a tuple of ints), got {a!r}")
        if not -ndim <= a < ndim:
            raise ShapeError(f"{op}: axis {a!r} is out of range for a tensor of rank {ndim}")
        a = a % ndim if ndim else a
        if a in out:
            raise ShapeError(f"{op}: axis {a} is repeated in {axis!r}")
        out.append(a)
    return tuple(sorted(out))
