"""Sliding windows: the view a convolution or a pooling layer reads, and its adjoint.

`windows(x, kernel, stride)` over the last k axes of x (k = len(kernel)) is the view

    (..., N_1, .., N_k) -> (..., O_1, .., O_k, K_1, .., K_k),  O_i = (N_i - K_i) // S_i + 1
    out[..., o_1, .., o_k, j_1, .., j_k] = x[..., o_1*S_1 + j_1, .., o_k*S_k + j_k]

(np.lib.stride_tricks.sliding_window_view, then every S-th window). No data moves: a backend
gives the view strides (..., s_1*S_1, .., s_k*S_k, s_1, .., s_k) over x's memory. A 2-D
convolution is then one contraction, einsum("nchwij,ocij->nohw", windows(x), w), and max or
average pooling is a max or mean over the window axes.

Its adjoint, `unwindows(g, kernel, stride, shape)` (col2im), sums every window's values back
onto the positions it covers: one kernel, `out[..., o*S + j] += g[..., o, j]` for each kernel
offset j. The gradient of windows is unwindows and the gradient of unwindows is windows.
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.node import make
from ..ir.op import OpDef
from ..ir.shapes import as_dim, dims_equal, fmt_shape, numel
from .common import concrete


def window_counts(op, spatial, kernel, stride) -> tuple:
    """O_i = (N_i - K_i) // S_i + 1 per axis, with checks where the sizes are known."""
    if len(kernel) != len(stride) or not kernel:
        raise ShapeError(f"{op}: kernel {kernel} and stride {stride} need one entry per "
                         f"window axis")
    out = []
    for n, k, s in zip(spatial, kernel, stride):
        for name, v in (("kernel size", k), ("stride", s)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ShapeError(f"{op}: a {name} must be a positive int, got {v!r}")
        if n.is_number and int(n) < k:
            raise ShapeError(f"{op}: a window of {k} does not fit an axis of {n} (axes "
                             f"{fmt_shape(spatial)}, kernel {kernel})")
        out.append(as_dim(n - k + 1 if s == 1 else sympy.floor((n - k) / s) + 1))
    return tuple(out)


def _windows_infer(inputs, attrs):
    (a,) = inputs
    kernel, stride = attrs["kernel"], attrs["stride"]
    k = len(kernel)
    if a.ndim < k:
        raise ShapeError(f"windows: a {k}-D window needs an input of rank >= {k}, got "
                         f"{fmt_shape(a.shape)}")
    counts = window_counts("windows", a.shape[a.ndim - k:], kernel, stride)
    return a.shape[:a.ndim - k] + counts + tuple(as_dim(d) for d in kernel), a.dtype


def _windows_reference(values, node, dims):
    (a,) = values
    kernel, stride = node.attrs["kernel"], node.attrs["stride"]
    k = len(kernel)
    axes = tuple(range(a.ndim - k, a.ndim))
    view = np.lib.stride_tricks.sliding_window_view(a, kernel, axis=axes)
    return view[(Ellipsis,) + tuple(slice(None, None, s) for s in stride) +
                (slice(None),) * k]


def _windows_vjp(node, g):
    a = node.inputs[0]
    k = len(node.attrs["kernel"])
    return (make("unwindows", (g,), kernel=node.attrs["kernel"], stride=node.attrs["stride"],
                 shape=a.shape[a.ndim - k:]),)


def _unwindows_infer(inputs, attrs):
    (g,) = inputs
    kernel, stride, spatial = attrs["kernel"], attrs["stride"], attrs["shape"]
    k = len(kernel)
    if g.ndim < 2 * k:
        raise ShapeError(f"unwindows: values {fmt_shape(g.shape)} need {k} window-count and "
                         f"{k} kernel axes")
    counts = window_counts("unwindows", spatial, kernel, stride)
    want = counts + tuple(as_dim(d) for d in kernel)
    if not all(dims_equal(p, q) for p, q in zip(g.shape[g.ndim - 2 * k:], want)):
        raise ShapeError(f"unwindows: values {fmt_shape(g.shape)} are not the windows of "
                         f"{fmt_shape(spatial)} (kernel {kernel}, stride {stride})")
    return g.shape[:g.ndim - 2 * k] + tuple(spatial), g.dtype


def _unwindows_reference(values, node, dims):
    (g,) = values
    kernel, stride = node.attrs["kernel"], node.attrs["stride"]
    k = len(kernel)
    counts = g.shape[g.ndim - 2 * k:g.ndim - k]
    out = np.zeros(concrete(node.shape, dims), dtype=g.dtype)
    for offset in itertools.product(*[range(d) for d in kernel]):
        box = tuple(slice(j, j + s * (c - 1) + 1, s) for j, s, c in zip(offset, stride, counts))
        out[(Ellipsis,) + box] += g[(Ellipsis,) + (slice(None),) * k + offset]
    return out


def _unwindows_vjp(node, g):
    return (make("windows", (g,), kernel=node.attrs["kernel"], stride=node.attrs["stride"]),)


WINDOWS = OpDef("windows", "layout", _windows_infer, _windows_reference, _windows_vjp,
                doc="Sliding windows over the last len(kernel) axes, every stride-th: "
                    "(..., N) -> (..., O, K), a strided view. attrs: kernel, stride.")
UNWINDOWS = OpDef("unwindows", "index", _unwindows_infer, _unwindows_reference,
                  _unwindows_vjp, lambda node: numel(node.inputs[0].shape),
                  doc="The windows' values summed back onto the positions they cover "
                      "(col2im, the adjoint of windows). attrs: kernel, stride, shape.")
DECLARATIONS = [WINDOWS, UNWINDOWS]
