"""Reductions over axes: sum, max, min, the numerically stable log-sum-exp; and argmax.

Each is declared once (`Reduction`): its NumPy reference, its result dtype, its gradient, and
its cost in FLOPs per element reduced and per element produced.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..ir.node import make
from ..ir.op import OpDef
from ..errors import ShapeError
from ..ir.shapes import as_shape, fmt_shape, numel
from .common import is_float
from .elementwise import DIV, EQUAL, EXP, MUL, SUB, apply_fn


def reduced_shape(shape, axes, keepdims) -> tuple:
    if keepdims:
        return as_shape(tuple(1 if k in axes else d for k, d in enumerate(shape)))
    return as_shape(tuple(d for k, d in enumerate(shape) if k not in axes))


def sum_dtype(dtype: str) -> str:
    """As np.sum: bools and small integers add up in 64 bits (a sum of bools is a count,
    a sum of 300 int8 ones is 300, not 44)."""
    kind = np.dtype(dtype).kind
    return "int64" if kind in "bi" else "uint64" if kind == "u" else dtype


def _logsumexp_dtype(dtype: str) -> str:
    """A log is never an integer; integer input gives graphc's default float, as
    elementwise ops on integers do."""
    return dtype if is_float(dtype) else "float32"


def _keep(node, g):
    """The cotangent of a reduction, broadcast back over the reduced axes."""
    a = node.inputs[0]
    if not node.attrs["keepdims"]:
        kept = tuple(1 if k in node.attrs["axes"] else d for k, d in enumerate(a.shape))
        g = make("reshape", (g,), shape=as_shape(kept))
    return make("broadcast_to", (g,), shape=a.shape)


def _sum_vjp(node, g):
    return (_keep(node, g),)


def _max_vjp(node, g):
    """Ties share the gradient equally, as torch.amax and torch.amin do (max and min)."""
    a = node.inputs[0]
    mask = apply_fn(EQUAL, [a, _keep(node, node)], dtype=a.dtype)
    count = make("sum", (mask,), axes=node.attrs["axes"], keepdims=True)
    share = apply_fn(DIV, [mask, count])
    return (apply_fn(MUL, [_keep(node, g), share]),)


def _logsumexp_vjp(node, g):
    """d lse/dx = softmax(x) = exp(x - lse(x))."""
    a = node.inputs[0]
    soft = apply_fn(EXP, [apply_fn(SUB, [a, _keep(node, node)])])
    return (apply_fn(MUL, [_keep(node, g), soft]),)


def _extremum(name, numpy_fn, what):
    def reduce(a, axis, keepdims):
        if a.size == 0 and any(a.shape[k] == 0 for k in axis):
            # numpy's own message ("zero-size array to reduction operation maximum which has
            # no identity") names neither the op nor the shape
            raise ValueError(f"{name}: cannot reduce axes {axis} of an array of shape "
                             f"{a.shape}: a {what} over no elements is undefined")
        return numpy_fn(a, axis=axis, keepdims=keepdims)
    return reduce


_max = _extremum("max", np.max, "maximum")
_min = _extremum("min", np.min, "minimum")


def _lse(a, axis, keepdims):
    if not is_float(a.dtype.name):
        a = a.astype(np.float64)
    # log(sum(exp(nothing))) = log(0) = -inf, as scipy and torch say; initial= keeps np.max
    # from refusing an empty axis
    m = np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@dataclass(frozen=True)
class Reduction:
    """What a reduction is: NumPy's version, its dtype rule, its gradient, and its FLOPs per
    element reduced and per element produced (a logsumexp: max, subtract, exp, add; then
    log and add back)."""

    name: str
    numpy: Callable
    dtype: Callable
    vjp: Callable
    flops_in: int
    flops_out: int

    def flops(self, full_shape, out_shape):
        return self.flops_in * numel(full_shape) + self.flops_out * numel(out_shape)


REDUCTIONS = {r.name: r for r in (
    Reduction("sum", np.sum, sum_dtype, _sum_vjp, 1, 0),
    Reduction("max", _max, lambda d: d, _max_vjp, 1, 0),
    Reduction("min", _min, lambda d: d, _max_vjp, 1, 0),
    Reduction("logsumexp", _lse, _logsumexp_dtype, _logsumexp_vjp, 4, 2),
)}


def run(reduction: str, a, axes, keepdims):
    """The reduction over NumPy values, in the dtype its rule gives."""
    r = REDUCTIONS[reduction]
    out = np.asarray(r.numpy(a, axis=axes, keepdims=keepdims))
    want = r.dtype(a.dtype.name)
    return out if not is_float(want) or out.dtype == np.float64 else out.astype(want)


def _declare(r: Reduction) -> OpDef:
    def infer(inputs, attrs):
        (a,) = inputs
        return reduced_shape(a.shape, attrs["axes"], attrs["keepdims"]), r.dtype(a.dtype)

    def reference(values, node, dims):
        return np.asarray(r.numpy(values[0], axis=node.attrs["axes"],
                                  keepdims=node.attrs["keepdims"]))

    def flops(node):
        return r.flops(node.inputs[0].shape, node.shape)
    return OpDef(r.name, "reduce", infer, reference, r.vjp, flops,
                 doc=f"{r.name} over axes. attrs: axes (sorted tuple), keepdims.")


def _argmax_infer(inputs, attrs):
    (a,) = inputs
    axis = attrs["axis"]
    if not isinstance(axis, int) or not 0 <= axis < a.ndim:
        raise ShapeError(f"argmax: axis {axis!r} is not an axis of shape {fmt_shape(a.shape)}")
    return reduced_shape(a.shape, (axis,), False), "int64"


def _argmax_reference(values, node, dims):
    (a,) = values
    axis = node.attrs["axis"]
    if a.shape[axis] == 0:
        raise ValueError(f"argmax: axis {axis} of an array of shape {a.shape} is empty")
    return np.argmax(a, axis=axis)


# The position of the first maximum along one axis (the first NaN, if any, as np.argmax).
# An integer result: no gradient. One kernel, like a reduction, that fusion leaves alone.
ARGMAX = OpDef("argmax", "index", _argmax_infer, _argmax_reference,
               flops=lambda node: numel(node.inputs[0].shape),
               doc="The index (int64) of the first maximum along axis. attrs: axis.")

DECLARATIONS = [_declare(r) for r in REDUCTIONS.values()] + [ARGMAX]

