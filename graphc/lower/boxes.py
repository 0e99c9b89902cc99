"""Lowering of boxes and windows: what slicing, joining and convolution move around.

No new kernel kind is needed: a slice and a window view are views (a new offset and
strides over the same buffer, graphc/lower/views.py), and everything that writes a box of a
buffer is an elementwise kernel whose output access is that box:

- pad(x):        zeros, then x copied into its box of the output;
- concat(a, b):  each operand copied into its stretch of the output's axis (converted to the
                 result's dtype);
- unwindows(g):  zeros, then for each kernel offset j the windows' values added in place,
                 out[..., o*S + j] += g[..., o, j] (col2im, in the reference's order).

Each rule is `rule(lowering, node) -> View` (graphc/lower/lowering.py holds the table).
"""
from __future__ import annotations

import itertools
import math

from ..ir.body import Body, Stmt
from ..ops import elementwise as ew
from .program import identity
from .views import ZERO, View


def _slice(lw, node):
    a = node.attrs
    return lw.view_of(node.inputs[0]).slice(a["begin"], a["step"], node.shape)


def _windows(lw, node):
    x, kernel = node.inputs[0], node.attrs["kernel"]
    axes = tuple(range(x.ndim - len(kernel), x.ndim))
    return lw.view_of(x).windows(axes, kernel, node.attrs["stride"], node.shape)


def _pad(lw, node):
    out = lw.result(node)
    lw.write(out, (lw.zeros(node.shape, node.dtype),), identity(node.dtype), ("pad",))
    box = out.slice(node.attrs["begin"], node.attrs["step"], node.inputs[0].shape)
    lw.write(box, (lw.view_of(node.inputs[0]),), identity(node.dtype), ("pad",),
             "pad: zeros, then its input copied into a box of them")
    return out


def _concat(lw, node):
    out, axis, offset = lw.result(node), node.attrs["axis"], ZERO
    for i in node.inputs:
        begin = tuple(offset if k == axis else ZERO for k in range(node.ndim))
        box = out.slice(begin, (1,) * node.ndim, i.shape)
        why = f"concat: one copy per operand ({len(node.inputs)}) into its stretch of axis " \
              f"{axis}" if i is node.inputs[-1] else None
        lw.write(box, (lw.view_of(i),), _converted(i.dtype, node.dtype), ("concat",), why)
        offset = offset + i.shape[axis]
    return out


def _unwindows(lw, node):
    kernel, stride, dtype = node.attrs["kernel"], node.attrs["stride"], node.dtype
    g, k = node.inputs[0], len(node.attrs["kernel"])
    lead = node.ndim - k
    counts = g.shape[g.ndim - 2 * k:g.ndim - k]
    out = lw.result(node)
    lw.write(out, (lw.zeros(node.shape, dtype),), identity(dtype), ("unwindows",))
    add = Body((dtype, dtype), (Stmt(ew.ADD, (0, 1), dtype, dtype),), 2)
    values = lw.view_of(g)
    for offset in itertools.product(*[range(d) for d in kernel]):
        box = out.slice((ZERO,) * lead + offset, (1,) * lead + tuple(stride),
                        node.shape[:lead] + counts)
        lw.write(box, (box, _at_offset(values, offset)), add, ("unwindows",))
    lw.decisions.append(f"{lw.kernels[-1].name}: unwindows: zeros, then the windows at each of "
                        f"the {math.prod(kernel)} kernel offsets added in place (col2im)")
    return out


def _at_offset(view: View, offset) -> View:
    """view[..., j_1, .., j_k] for the kernel offset j: the last k axes fixed."""
    k = len(offset)
    moved = sum((j * s for j, s in zip(offset, view.strides[-k:])), ZERO)
    return View(view.buffer, view.shape[:-k], view.strides[:-k], view.offset + moved)


def _converted(src: str, dst: str) -> Body:
    """A copy's body: the value itself, or converted to `dst`."""
    if src == dst:
        return identity(dst)
    return Body((src,), (Stmt(ew.CAST, (0,), dst, dst),), 1)


RULES = {"slice": _slice, "windows": _windows, "pad": _pad, "concat": _concat,
         "unwindows": _unwindows}
