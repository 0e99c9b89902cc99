"""Indexing, joining and gathering, for the DSL: `x[...]`, concat/stack/split, take,
take_along_axis, arange, tril/triu.

Each is built from a few primitive ops (graphc/ops/slicing.py, gather.py, source.py): basic
indexing is one `slice` view plus a reshape (an int index drops its axis, None adds one);
stack is reshapes and one concat; split is slices; tril/triu are arange, a comparison and
where. The graph therefore holds only ops every backend knows.
"""
from __future__ import annotations

import numbers

import numpy as np
import sympy

from .errors import ShapeError
from .ir.node import Node, make
from .ir.shapes import as_dim, as_shape, dims_equal, fmt_shape, normalize_axes
from .ops.common import IndexOutOfRange
from .ops.slicing import axis_slice, slice_box
from . import dsl

Tensor = Node


# ---- x[index] ------------------------------------------------------------------------------
def getitem(a, index) -> Tensor:
    """NumPy basic indexing: ints (negative too), slices with steps, None, Ellipsis, tuples.

    On a symbolic axis bounds stay symbolic: x[:, 1:] of (B, T) is (B, T - 1); an int bound
    there must lie inside the axis when the function is called (checked then). With known
    sizes an out-of-range int is an error now (a gc.ShapeError that is also an IndexError);
    out-of-range slice bounds are clipped, as in NumPy.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", "T", 4))
    >>> x[:, 1:, ::2].shape, x[0, -1].shape, x[..., None, 2].shape
    ((B, T - 1, 2), (4,), (B, T, 1))
    """
    a = dsl._operand("getitem", a)
    items = _expand(a, index if isinstance(index, tuple) else (index,))
    begin, size, step, shape = [], [], [], []
    axis = 0
    for item in items:
        if item is None:
            shape.append(sympy.Integer(1))
            continue
        n = a.shape[axis]
        if isinstance(item, slice):
            b, c, s = _slice_box(item, n)
            shape.append(c)
        else:
            b, c, s = _int_box(item, n, a, axis), sympy.Integer(1), 1
        begin.append(b)
        size.append(c)
        step.append(s)
        axis += 1
    out = slice_box(a, begin, size, step)
    return dsl.reshape(out, tuple(shape)) if tuple(shape) != tuple(out.shape) else out


def _expand(a, items) -> list:
    """Items with the Ellipsis (or the missing trailing axes) written as full slices."""
    for it in items:
        if isinstance(it, (Node, np.ndarray, list)) or hasattr(it, "__graphc_node__"):
            raise TypeError(f"getitem: indexing with an array or a tensor ({type(it).__name__})"
                            f" is advanced indexing, not supported: use gc.take or "
                            f"gc.take_along_axis")
        if isinstance(it, bool) or not (it is None or it is Ellipsis or isinstance(it, slice)
                                        or _is_int(it)):
            raise TypeError(f"getitem: a tensor index must be an int, a slice, None or Ellipsis, "
                            f"got {it!r}")
    if sum(it is Ellipsis for it in items) > 1:
        raise IndexOutOfRange(f"getitem: an index can only have a single Ellipsis, got {items}")
    used = sum(it is not None and it is not Ellipsis for it in items)
    if used > a.ndim:
        raise IndexOutOfRange(f"getitem: too many indices for a tensor of shape "
                              f"{fmt_shape(a.shape)}: {used} were indexed")
    fill = [slice(None)] * (a.ndim - used)
    if any(it is Ellipsis for it in items):
        k = next(i for i, it in enumerate(items) if it is Ellipsis)
        return list(items[:k]) + fill + list(items[k + 1:])
    return list(items) + fill


def _is_int(v) -> bool:
    if isinstance(v, sympy.Expr):
        return bool(v.is_integer)
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _position(v, n):
    """An int bound as a position on an axis of n elements: negative counts from the end."""
    if isinstance(v, sympy.Expr) and not v.is_number:
        return as_dim(v)  # a size in symbolic dims, taken as a position from the start
    v = int(v)
    return sympy.Integer(v) if v >= 0 else as_dim(n + v) if not n.is_number else \
        sympy.Integer(int(n) + v)


def _int_box(i, n, a, axis):
    pos = _position(i, n)
    if n.is_number and pos.is_number and not 0 <= int(pos) < int(n):
        raise IndexOutOfRange(f"getitem: index {i} is out of range for axis {axis} of size "
                              f"{n} (shape {fmt_shape(a.shape)})")
    return pos


def _slice_box(sl, n):
    """(begin, size, step) of a slice on an axis of n elements."""
    step = 1 if sl.step is None else sl.step
    if not _is_int(step) or (isinstance(step, sympy.Expr) and not step.is_number):
        raise TypeError(f"getitem: a slice step must be an int, got {step!r}")
    step = int(step)
    if step == 0:
        raise ShapeError("getitem: slice step cannot be zero")
    bounds = (sl.start, sl.stop)
    for v in bounds:
        if v is not None and not _is_int(v) and not (isinstance(v, sympy.Expr)
                                                     and v.free_symbols):
            raise TypeError(f"getitem: slice bounds must be ints (or sizes in symbolic dims), "
                            f"got {v!r}")
    known = [v is None or not isinstance(v, sympy.Expr) or v.is_number for v in bounds]
    if n.is_number and all(known):
        # NumPy's own rule, clipping included
        b, e, s = slice(*[None if v is None else int(v) for v in bounds], step).indices(int(n))
        count = len(range(b, e, s))
        return sympy.Integer(b if count else 0), sympy.Integer(count), s
    if step > 0:
        b = sympy.Integer(0) if sl.start is None else _position(sl.start, n)
        e = n if sl.stop is None else _position(sl.stop, n)
        count = sympy.ceiling((e - b) / step)
    else:
        b = n - 1 if sl.start is None else _position(sl.start, n)
        e = sympy.Integer(-1) if sl.stop is None else _position(sl.stop, n)
        count = sympy.ceiling((b - e) / -step)
    count = sympy.simplify(count)
    if count.is_number and count <= 0:
        return sympy.Integer(0), sympy.Integer(0), step
    return as_dim(b), as_dim(count), step


# ---- joining -------------------------------------------------------------------------------
def concat(tensors, axis=0) -> Tensor:
    """np.concatenate: the tensors joined along `axis` (their other axes must be equal;
    dtypes promote). Its gradient is one slice per operand.

    >>> import graphc as gc
    >>> gc.concat([gc.tensor("a", ("B", 2)), gc.tensor("b", ("B", 3))], axis=1).shape
    (B, 5)
    """
    ts = _tensors("concat", tensors)
    (axis,) = normalize_axes("concat", axis, ts[0].ndim)
    if len(ts) == 1:
        return ts[0]
    return make("concat", ts, axis=axis)


def stack(tensors, axis=0) -> Tensor:
    """np.stack: the tensors (all of one shape) along a new axis: a reshape of each, then
    one concat."""
    ts = _tensors("stack", tensors)
    first = ts[0]
    for t in ts[1:]:
        if t.ndim != first.ndim or not all(dims_equal(p, q) for p, q in zip(t.shape, first.shape)):
            raise ShapeError(f"stack: all tensors need one shape, got "
                             f"{', '.join(fmt_shape(t.shape) for t in ts)}")
    (axis,) = normalize_axes("stack", axis, first.ndim + 1)
    lifted = [dsl.reshape(t, t.shape[:axis] + (1,) + t.shape[axis:]) for t in ts]
    return concat(lifted, axis)


def split(x, sections, axis=0) -> tuple:
    """np.split-like: `sections` an int (that many equal parts) or a list of part sizes
    (ints or symbolic sizes summing to the axis). Returns a tuple of slices (views).

    >>> import graphc as gc
    >>> q, k, v = gc.split(gc.tensor("qkv", ("B", 12)), 3, axis=-1)
    >>> q.shape, v.shape
    ((B, 4), (B, 4))
    """
    a = dsl._operand("split", x)
    (axis,) = normalize_axes("split", axis, a.ndim)
    n = a.shape[axis]
    if _is_int(sections) and not isinstance(sections, sympy.Expr):
        parts = int(sections)
        if parts < 1:
            raise ShapeError(f"split: sections must be at least 1, got {parts}")
        size = sympy.simplify(n / parts)
        if not size.is_integer:
            raise ShapeError(f"split: axis {axis} of {fmt_shape(a.shape)} ({n}) does not "
                             f"split into {parts} equal parts")
        sizes = [size] * parts
    else:
        sizes = [as_dim(s) for s in sections]
        if not sizes or not dims_equal(sympy.Add(*sizes), n):
            raise ShapeError(f"split: sizes {[str(s) for s in sizes]} do not add up to axis "
                             f"{axis} of {fmt_shape(a.shape)} ({n})")
    out, start = [], sympy.Integer(0)
    for s in sizes:
        out.append(axis_slice(a, axis, start, s))
        start = start + s
    return tuple(out)


def _tensors(op, tensors) -> list:
    if isinstance(tensors, Node) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ShapeError(f"{op}: needs at least one tensor")
    return [dsl._operand(op, t) for t in tensors]


# ---- gathering -----------------------------------------------------------------------------
def take(a, idx, axis=0) -> Tensor:
    """np.take: a's entries at the integer indices `idx` along `axis` (an embedding lookup is
    take(table, ids)); negative indices count from the end. The gradient scatter-adds, so
    repeated indices add up; indices fed straight from an input are range-checked at call
    time (a gc.InputError naming it).

    >>> import graphc as gc
    >>> gc.take(gc.tensor("table", (100, 16)), gc.tensor("ids", ("B", "T"), "int64")).shape
    (B, T, 16)
    """
    a, idx = dsl._operand("take", a), _indices("take", idx)
    (axis,) = normalize_axes("take", axis, a.ndim)
    return make("take", (a, idx), axis=axis)


def take_along_axis(a, idx, axis) -> Tensor:
    """np.take_along_axis: per position, a's entry at the index along `axis`; `idx` has
    a's rank and broadcasts with it on the other axes."""
    a, idx = dsl._operand("take_along_axis", a), _indices("take_along_axis", idx)
    (axis,) = normalize_axes("take_along_axis", axis, a.ndim)
    return make("take_along_axis", (a, idx), axis=axis)


def _indices(op, v) -> Tensor:
    if isinstance(v, (list, tuple, np.ndarray)) or _is_int(v):
        arr = np.asarray(v)
        if arr.dtype.kind not in "iu":
            raise ShapeError(f"{op}: indices must be integers, got {arr.dtype}")
        return dsl.constant(arr)
    return dsl._operand(op, v)


# ---- positions and masks -------------------------------------------------------------------
def arange(n) -> Tensor:
    """0, 1, ..., n-1 as int64: `n` an int, a dim name ("T") or a size in dims (x.shape[1]).

    >>> import graphc as gc
    >>> gc.arange("T").shape, gc.arange(5).dtype
    ((T,), 'int64')
    """
    (size,) = as_shape((n,))
    return make("arange", (), n=size)


def tri_mask(rows, cols, k=0, lower=True) -> Tensor:
    """The bool (rows, cols) mask of tril (col <= row + k) or triu (col >= row + k)."""
    r = dsl.reshape(arange(rows), (-1, 1))
    c = dsl.reshape(arange(cols), (1, -1))
    shifted = dsl.add(r, k) if k else r
    return dsl.less_equal(c, shifted) if lower else dsl.greater_equal(c, shifted)


def tril(x, k=0) -> Tensor:
    """np.tril on the last two axes (symbolic sizes too): zero above the k-th diagonal."""
    return _tri("tril", x, k, lower=True)


def triu(x, k=0) -> Tensor:
    """np.triu on the last two axes: zero below the k-th diagonal."""
    return _tri("triu", x, k, lower=False)


def _tri(op, a, k, lower):
    a = dsl._operand(op, a)
    if a.ndim < 2:
        raise ShapeError(f"{op}: needs a tensor of rank >= 2, got {fmt_shape(a.shape)}")
    if not _is_int(k) or isinstance(k, sympy.Expr):
        raise TypeError(f"{op}: k must be an int, got {k!r}")
    zero = dsl.constant(False, dtype="bool") if a.dtype == "bool" else 0
    return dsl.where(tri_mask(a.shape[-2], a.shape[-1], int(k), lower), a, zero)
