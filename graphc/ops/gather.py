"""Gathers and their adjoints: `take` and `take_along_axis` read elements at integer
indices; `scatter_add` and `scatter_add_along_axis` add values into zeros at indices.

Indices follow NumPy: any integer dtype, negative ones count from the end (i < 0 reads
i + n), and anything outside [-n, n) is an error (a gc.InputError naming the input when the
indices come straight from one, see `call_checks`). How a backend runs them, each one kernel:

- take(a, idx, axis):    out[p, j, q] = a[p, idx[j], q]        (p: the axes before `axis`,
                                                                 j: idx's axes, q: those after)
- scatter_add(g, idx, axis, shape): out = zeros(shape); out[p, idx[j], q] += g[p, j, q]
- take_along_axis(a, idx, axis):    out[..., j, ...] = a[..., idx[..., j, ...], ...]
  (idx has a's rank; the other axes broadcast, as np.take_along_axis)
- scatter_add_along_axis(g, idx, axis, shape): its adjoint, with repeated indices adding up.

Each gather's gradient is its scatter and each scatter's gradient is its gather (they are
adjoint linear maps), so second and higher order gradients stay in these four ops.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import InputError, ShapeError
from ..ir.node import make
from ..ir.op import OpDef, is_layout
from ..ir.shapes import broadcast_shapes, dims_equal, fmt_shape, numel
from .common import concrete


def _check_index(op, idx):
    if np.dtype(idx.dtype).kind not in "iu":
        raise ShapeError(f"{op}: indices must be integers, got {idx.dtype} for a tensor of "
                         f"shape {fmt_shape(idx.shape)}")


def _check_axis(op, axis, ndim, shape):
    if not isinstance(axis, int) or not 0 <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis!r} is not an axis of shape {fmt_shape(shape)}")


def check_range(op, idx: np.ndarray, n: int, where: str = "") -> None:
    """Indices must lie in [-n, n), as NumPy's take requires."""
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx.min()) if idx.min() < -n else int(idx.max())
        raise IndexError(f"{op}: index {bad}{where} is out of range [-{n}, {n}) for an axis "
                         f"of size {n}")


# ---- take and scatter_add ------------------------------------------------------------------
def _take_infer(inputs, attrs):
    a, idx = inputs
    axis = attrs["axis"]
    _check_axis("take", axis, a.ndim, a.shape)
    _check_index("take", idx)
    return a.shape[:axis] + idx.shape + a.shape[axis + 1:], a.dtype


def _take_reference(values, node, dims):
    a, idx = values
    axis = node.attrs["axis"]
    check_range("take", idx, a.shape[axis])
    return np.take(a, idx, axis=axis)


def _take_vjp(node, g):
    a, idx = node.inputs
    return make("scatter_add", (g, idx), axis=node.attrs["axis"], shape=a.shape), None


def _scatter_infer(inputs, attrs):
    g, idx = inputs
    axis, shape = attrs["axis"], attrs["shape"]
    _check_axis("scatter_add", axis, len(shape), shape)
    _check_index("scatter_add", idx)
    want = shape[:axis] + idx.shape + shape[axis + 1:]
    if g.ndim != len(want) or not all(dims_equal(p, q) for p, q in zip(g.shape, want)):
        raise ShapeError(f"scatter_add: values of shape {fmt_shape(g.shape)} do not fit "
                         f"indices {fmt_shape(idx.shape)} into {fmt_shape(shape)} along axis "
                         f"{axis} (expected values of shape {fmt_shape(want)})")
    return shape, g.dtype


def _scatter_reference(values, node, dims):
    g, idx = values
    axis = node.attrs["axis"]
    out = np.zeros(concrete(node.shape, dims), dtype=g.dtype)
    check_range("scatter_add", idx, out.shape[axis])
    np.add.at(out, (slice(None),) * axis + (idx,), g)  # repeated indices add up
    return out


def _scatter_vjp(node, g):
    return make("take", (g, node.inputs[1]), axis=node.attrs["axis"]), None


TAKE = OpDef("take", "index", _take_infer, _take_reference, _take_vjp,
             lambda node: sympy.Integer(0),
             doc="np.take: a's entries at integer indices along axis. attrs: axis.")
SCATTER_ADD = OpDef("scatter_add", "index", _scatter_infer, _scatter_reference, _scatter_vjp,
                    lambda node: numel(node.inputs[0].shape),
                    doc="zeros(shape) with g added at the indices along axis (take's "
                        "adjoint). attrs: axis, shape.")


# ---- take_along_axis and scatter_add_along_axis --------------------------------------------
def along_shape(op, a_shape, idx, axis):
    """The shape of take_along_axis(a, idx, axis): idx's size on `axis`, the other axes
    broadcast between a and idx."""
    if len(a_shape) != idx.ndim:
        raise ShapeError(f"{op}: indices {fmt_shape(idx.shape)} need the rank of "
                         f"{fmt_shape(a_shape)}")
    _check_axis(op, axis, len(a_shape), a_shape)
    _check_index(op, idx)
    others = broadcast_shapes(op, tuple(1 if k == axis else d for k, d in enumerate(a_shape)),
                              tuple(1 if k == axis else d for k, d in enumerate(idx.shape)))
    return others[:axis] + (idx.shape[axis],) + others[axis + 1:]


def _along_infer(inputs, attrs):
    a, idx = inputs
    return along_shape("take_along_axis", a.shape, idx, attrs["axis"]), a.dtype


def _along_reference(values, node, dims):
    a, idx = values
    axis = node.attrs["axis"]
    check_range("take_along_axis", idx, a.shape[axis])
    out = concrete(node.shape, dims)
    full = tuple(n if k == axis else o for k, (n, o) in enumerate(zip(a.shape, out)))
    return np.take_along_axis(np.broadcast_to(a, full), idx, axis=axis)


def _along_vjp(node, g):
    a, idx = node.inputs
    axis = node.attrs["axis"]
    # the cotangent of a broadcast of a; the autodiff driver sums it back to a's shape
    full = tuple(n if k == axis else o for k, (n, o) in enumerate(zip(a.shape, node.shape)))
    return make("scatter_add_along_axis", (g, idx), axis=axis, shape=full), None


def _scatter_along_infer(inputs, attrs):
    g, idx = inputs
    axis, shape = attrs["axis"], attrs["shape"]
    want = along_shape("scatter_add_along_axis", shape, idx, axis)
    if g.ndim != len(want) or not all(dims_equal(p, q) for p, q in zip(g.shape, want)) or \
            not all(dims_equal(p, q) for k, (p, q) in enumerate(zip(want, shape)) if k != axis):
        raise ShapeError(f"scatter_add_along_axis: values {fmt_shape(g.shape)} and indices "
                         f"{fmt_shape(idx.shape)} do not fit {fmt_shape(shape)} along axis "
                         f"{axis}")
    return shape, g.dtype


def _scatter_along_reference(values, node, dims):
    g, idx = values
    axis = node.attrs["axis"]
    out = np.zeros(concrete(node.shape, dims), dtype=g.dtype)
    check_range("scatter_add_along_axis", idx, out.shape[axis])
    grid = list(np.ix_(*[np.arange(n) for n in g.shape]))
    grid[axis] = np.broadcast_to(idx, g.shape)
    np.add.at(out, tuple(grid), g)
    return out


def _scatter_along_vjp(node, g):
    return make("take_along_axis", (g, node.inputs[1]), axis=node.attrs["axis"]), None


TAKE_ALONG_AXIS = OpDef(
    "take_along_axis", "index", _along_infer, _along_reference, _along_vjp,
    lambda node: sympy.Integer(0),
    doc="np.take_along_axis: per position, a's entry at the index along axis. attrs: axis.")
SCATTER_ADD_ALONG_AXIS = OpDef(
    "scatter_add_along_axis", "index", _scatter_along_infer, _scatter_along_reference,
    _scatter_along_vjp, lambda node: numel(node.inputs[0].shape),
    doc="zeros(shape) with g added at the indices along axis (take_along_axis's adjoint). "
        "attrs: axis, shape.")

DECLARATIONS = [TAKE, SCATTER_ADD, TAKE_ALONG_AXIS, SCATTER_ADD_ALONG_AXIS]


# ---- call-time checks ----------------------------------------------------------------------
def call_checks(node) -> list:
    """For a gather or scatter whose indices come from an input (through views, which keep
    the values): a check of their range when a compiled function is called, raising
    gc.InputError naming the input."""
    if node.op not in ("take", "scatter_add", "take_along_axis", "scatter_add_along_axis"):
        return []
    source = node.inputs[1]
    while is_layout(source):
        source = source.inputs[0]
    if source.op != "input":
        return []  # computed indices: the op's own reference checks them
    axis = node.attrs["axis"]
    size = (node.inputs[0] if node.op.startswith("take") else node).shape[axis]
    name = source.name

    def check(arrays, dims, bound_by):
        n = int(sympy.sympify(size).subs(dims))
        try:
            check_range(node.op, arrays[name], n)
        except IndexError as e:
            raise InputError(f"input {name!r}: {e}") from None
    return [check]
