"""Boxes of a tensor: `slice` (a strided view), `pad` (its adjoint: zeros around a box),
`concat` (tensors joined along an axis).

A box is, per axis, a first index `begin`, a count `size` and a `step` (any nonzero int):
it holds the positions begin, begin + step, ..., begin + (size - 1) * step. `begin` and
`size` are sympy expressions, so a box may be symbolic (`x[:, 1:]` of (B, T) is begin 1,
size T - 1). How a backend runs them:

- slice(x): out[i] = x[begin + i * step]. A view: a new offset and strides, no data moves.
- pad(x):   out = zeros(shape); out[begin + i * step] = x[i]. One kernel (a copy into a
  zeroed buffer): conv padding (step 1) and the gradient of a slice.
- concat:   one kernel copying each operand into its stretch of the axis.

The gradient of slice is pad and the gradient of pad is slice (each is the other's adjoint),
so gradients of any order stay in these two ops; concat's gradient is one slice per operand.
A box whose bounds are symbolic is checked when a compiled function binds its dims
(`call_checks`), and an out-of-range box with known sizes is an error while building.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy

from ..errors import InputError, ShapeError
from ..ir.node import make
from ..ir.op import OpDef
from ..ir.shapes import as_dim, dims_equal, fmt_shape, normalize_axes
from .common import IndexOutOfRange, concrete, result_dtype


# ---- boxes ---------------------------------------------------------------------------------
def _num(v):
    """An int for a number (sympy or Python), else None (a size in symbolic dims)."""
    v = sympy.sympify(v)
    return int(v) if v.is_number else None


def box_error(begin, size, step, n, dims=None):
    """Why the box does not fit an axis of n elements (all known), or None when it does."""
    b, c, n = ints((begin, size, n), dims or {})
    if c < 0:
        return f"it would hold {c} elements"
    if c == 0:
        return None
    last = b + (c - 1) * step
    if not (0 <= b < n and 0 <= last < n):
        return f"it reads positions {b} to {last}, outside [0, {n})"
    return None


def ints(exprs, dims: dict) -> tuple:
    """Sizes or positions in symbolic dims as ints for `dims` (cached: called every run)."""
    return _ints(tuple(exprs), tuple(sorted(dims.items(), key=lambda kv: str(kv[0]))))


@lru_cache(maxsize=4096)
def _ints(exprs, dims):
    return tuple(int(sympy.sympify(e).subs(dict(dims))) for e in exprs)


def check_box(op, shape, begin, size, step, what="input"):
    """Build-time check of a box inside `shape`, axis by axis, where the sizes are known."""
    if not (len(begin) == len(size) == len(step) == len(shape)):
        raise ShapeError(f"{op}: begin, size and step need one entry per axis of the {what} "
                         f"{fmt_shape(shape)}, got {len(begin)}, {len(size)}, {len(step)}")
    for axis, (b, c, s, n) in enumerate(zip(begin, size, step, shape)):
        if not isinstance(s, int) or isinstance(s, bool) or s == 0:
            raise ShapeError(f"{op}: a step must be a nonzero int, got {s!r} on axis {axis}")
        if all(_num(v) is not None for v in (b, c, n)):
            why = box_error(b, c, s, n)
            if why:
                raise IndexOutOfRange(f"{op}: the box on axis {axis} of the {what} "
                                      f"{fmt_shape(shape)} does not fit: {why}")


def numpy_box(begin, size, step, dims) -> tuple:
    """The box as a tuple of Python slices (checked: NumPy would wrap or clamp instead)."""
    out = []
    for b, c, s in zip(ints(begin, dims), ints(size, dims), step):
        if c == 0:
            out.append(slice(0, 0))
            continue
        stop = b + (c - 1) * s + (1 if s > 0 else -1)
        out.append(slice(b, stop if stop >= 0 else None, s))
    return tuple(out)


def _checked_box(op, sizes, attrs, outer, dims):
    """The NumPy box (of `sizes`) of a slice/pad at call time, after checking that it fits
    the `outer` shape it cuts from or writes into."""
    for axis in _uncertain(attrs["begin"], sizes, attrs["step"], outer):
        why = box_error(attrs["begin"][axis], sizes[axis], attrs["step"][axis], outer[axis],
                        dims)
        if why:
            raise IndexError(f"{op}: the box on axis {axis} of shape {ints(outer, dims)} does "
                             f"not fit for {dict(dims)}: {why}")
    return numpy_box(attrs["begin"], sizes, attrs["step"], dims)


@lru_cache(maxsize=1024)
def _uncertain(begin, size, step, outer) -> tuple:
    """The axes whose fit depends on the dims: not all known (checked when built), and not
    the whole axis (begin 0, step 1, size n)."""
    return tuple(k for k, (b, c, s, n) in enumerate(zip(begin, size, step, outer))
                 if not all(_num(v) is not None for v in (b, c, n))
                 and not (b == 0 and s == 1 and dims_equal(c, n)))


# ---- slice ---------------------------------------------------------------------------------
def _slice_infer(inputs, attrs):
    (a,) = inputs
    check_box("slice", a.shape, attrs["begin"], attrs["shape"], attrs["step"])
    return attrs["shape"], a.dtype


def _slice_reference(values, node, dims):
    (a,) = values
    box = _checked_box("slice", node.shape, node.attrs, node.inputs[0].shape, dims)
    return a[box]


def _slice_vjp(node, g):
    a = node.inputs[0]
    return (make("pad", (g,), begin=node.attrs["begin"], step=node.attrs["step"],
                 shape=a.shape),)


SLICE = OpDef("slice", "layout", _slice_infer, _slice_reference, _slice_vjp,
              doc="A strided box: out[i] = x[begin + i*step] per axis. attrs: begin, step, "
                  "shape (the sizes).")


# ---- pad -----------------------------------------------------------------------------------
def _pad_infer(inputs, attrs):
    (a,) = inputs
    check_box("pad", attrs["shape"], attrs["begin"], a.shape, attrs["step"], what="output")
    return attrs["shape"], a.dtype


def _pad_reference(values, node, dims):
    (a,) = values
    box = _checked_box("pad", node.inputs[0].shape, node.attrs, node.shape, dims)
    out = np.zeros(concrete(node.shape, dims), dtype=a.dtype)
    out[box] = a
    return out


def _pad_vjp(node, g):
    a = node.inputs[0]
    return (make("slice", (g,), begin=node.attrs["begin"], step=node.attrs["step"],
                 shape=a.shape),)


PAD = OpDef("pad", "index", _pad_infer, _pad_reference, _pad_vjp,
            lambda node: sympy.Integer(0),
            doc="Zeros of `shape` with x written at begin + i*step per axis (conv padding, "
                "the gradient of slice). attrs: begin, step, shape.")


# ---- concat --------------------------------------------------------------------------------
def _concat_infer(inputs, attrs):
    axis = attrs["axis"]
    if not inputs:
        raise ShapeError("concat: needs at least one tensor")
    first = inputs[0]
    shown = ", ".join(fmt_shape(i.shape) for i in inputs)
    if not 0 <= axis < first.ndim:
        raise ShapeError(f"concat: axis {axis} is not an axis of shapes {shown}")
    for i in inputs[1:]:
        if i.ndim != first.ndim or not all(
                dims_equal(p, q) for k, (p, q) in enumerate(zip(i.shape, first.shape))
                if k != axis):
            raise ShapeError(f"concat: shapes {shown} differ outside axis {axis}")
    total = sympy.Add(*[i.shape[axis] for i in inputs])
    shape = first.shape[:axis] + (as_dim(total),) + first.shape[axis + 1:]
    return shape, result_dtype(*[i.dtype for i in inputs])


def _concat_reference(values, node, dims):
    return np.concatenate(values, axis=node.attrs["axis"]).astype(node.dtype, copy=False)


def _concat_vjp(node, g):
    axis, offset, grads = node.attrs["axis"], sympy.Integer(0), []
    for i in node.inputs:
        begin = tuple(offset if k == axis else sympy.Integer(0) for k in range(g.ndim))
        grads.append(make("slice", (g,), begin=begin, step=(1,) * g.ndim, shape=i.shape))
        offset = offset + i.shape[axis]
    return tuple(grads)


CONCAT = OpDef("concat", "index", _concat_infer, _concat_reference, _concat_vjp,
               lambda node: sympy.Integer(0),
               doc="Tensors joined along `axis` (np.concatenate, dtypes promoted). attrs: axis.")

DECLARATIONS = [SLICE, PAD, CONCAT]


# ---- building ------------------------------------------------------------------------------
def slice_box(a, begin, size, step):
    """The slice node of a box (or `a` itself for the whole of it)."""
    begin, size = tuple(map(as_dim, begin)), tuple(map(as_dim, size))
    if all(b == 0 and s == 1 and dims_equal(c, n)
           for b, c, s, n in zip(begin, size, step, a.shape)):
        return a
    return make("slice", (a,), begin=begin, step=tuple(step), shape=size)


def axis_slice(a, axis, start, size):
    """a[..., start:start+size, ...] along one axis (start, size: ints or dim expressions)."""
    (axis,) = normalize_axes("slice", axis, a.ndim)
    begin = tuple(start if k == axis else 0 for k in range(a.ndim))
    shape = tuple(size if k == axis else d for k, d in enumerate(a.shape))
    return slice_box(a, begin, shape, (1,) * a.ndim)


# ---- call-time checks ----------------------------------------------------------------------
def call_checks(node) -> list:
    """Checks of a slice or pad whose box is symbolic, for when a compiled function has bound
    its dims: each a function (arrays, dims, bound_by) raising gc.InputError."""
    if node.op not in ("slice", "pad"):
        return []
    outer = node.inputs[0].shape if node.op == "slice" else node.shape
    inner = node.shape if node.op == "slice" else node.inputs[0].shape
    begin, step = node.attrs["begin"], node.attrs["step"]
    axes = _uncertain(begin, tuple(inner), step, tuple(outer))
    if not axes:
        return []

    def check(arrays, dims, bound_by):
        for axis in axes:
            b, c, s, n = begin[axis], inner[axis], step[axis], outer[axis]
            why = box_error(b, c, s, n, dims)
            if why:
                free = sorted(set().union(*[sympy.sympify(v).free_symbols for v in (b, c, n)]),
                              key=str)
                given = ", ".join(f"{d} = {dims[d]} (from input {bound_by.get(d, '?')!r})"
                                  for d in free)
                raise InputError(f"{node.op}: the box on axis {axis} of {fmt_shape(outer)} "
                                 f"(begin {b}, size {c}, step {s}) does not fit for {given}: "
                                 f"{why}")
    return [check]
