"""Normalizations along one axis: softmax and log_softmax, each one kernel over a row.

Both subtract the row's maximum first, so they are exact to rounding for logits of any size:
    softmax(z)     = exp(z - max) / sum(exp(z - max))
    log_softmax(z) = (z - max) - log(sum(exp(z - max)))
(log_softmax never computes z - logsumexp(z), which cancels two large numbers, and it takes
the log as log1p of the sum without the max's own 1, so a log-probability near 0 keeps its
relative accuracy). A logit of
-inf gets probability 0 (log-probability -inf) and a finite gradient; a row that is all -inf,
or holds +inf, is nan, as in torch. Their gradients are graphs (so second order works):
    d softmax:     out * (g - sum(g * out))
    d log_softmax: g - exp(out) * sum(g)
"""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.node import make
from ..ir.op import OpDef
from ..ir.shapes import fmt_shape, numel
from .common import is_float
from .elementwise import EXP, MUL, SUB, apply_fn


def _infer(inputs, attrs):
    (a,) = inputs
    axis = attrs["axis"]
    if not isinstance(axis, int) or not 0 <= axis < a.ndim:
        raise ShapeError(f"softmax: axis {axis!r} is not an axis of a tensor of shape "
                         f"{fmt_shape(a.shape)}")
    if not is_float(a.dtype):
        raise ShapeError(f"softmax: the input must be a float tensor, got {a.dtype}")
    return a.shape, a.dtype


def _shifted(a, axis):
    """z - max(z) along the axis; an empty row stays empty (no maximum is needed)."""
    if a.shape[axis] == 0:
        return a
    return a - np.max(a, axis=axis, keepdims=True)


def _softmax(values, node, dims):
    e = np.exp(_shifted(values[0], node.attrs["axis"]))
    return e / np.sum(e, axis=node.attrs["axis"], keepdims=True)


def _log_softmax(values, node, dims):
    axis = node.attrs["axis"]
    z = _shifted(values[0], axis)
    e = np.exp(z)
    if z.shape[axis]:
        # sum(exp(z - max)) is 1 + (the others); log1p of the others alone keeps a
        # log-probability near 0 accurate to its own size, not to 1's. The max's own term,
        # exp(0) - 1, is 0, and NaN where the max is +inf (inf - inf): the row is NaN, as in
        # torch and JAX, not [nan, -inf, ...]
        top = np.argmax(z, axis=axis, keepdims=True)
        np.put_along_axis(e, top, np.expm1(np.take_along_axis(z, top, axis=axis)), axis=axis)
    return z - np.log1p(np.sum(e, axis=axis, keepdims=True))


def _row_sum(t, axis):
    s = make("sum", (t,), axes=(axis,), keepdims=True)
    return make("broadcast_to", (s,), shape=t.shape)


def _softmax_vjp(node, g):
    axis = node.attrs["axis"]
    inner = apply_fn(SUB, [g, _row_sum(apply_fn(MUL, [g, node]), axis)])
    return (apply_fn(MUL, [node, inner]),)


def _log_softmax_vjp(node, g):
    axis = node.attrs["axis"]
    return (apply_fn(SUB, [g, apply_fn(MUL, [apply_fn(EXP, [node]), _row_sum(g, axis)])]),)


def _flops(per_element, per_row):
    """max, subtract, exp, sum and a divide (softmax) or a subtract (log_softmax) per element;
    log_softmax also takes one log per row."""
    def flops(node):
        n = numel(node.shape)
        rows = n / node.shape[node.attrs["axis"]] if node.shape[node.attrs["axis"]] != 0 \
            else sympy.Integer(0)
        return per_element * n + per_row * rows
    return flops


DECLARATIONS = [
    OpDef("softmax", "normalize", _infer, _softmax, _softmax_vjp, _flops(5, 0),
          doc="exp(z - max) / sum(exp(z - max)) along axis. attrs: axis."),
    OpDef("log_softmax", "normalize", _infer, _log_softmax, _log_softmax_vjp, _flops(5, 1),
          doc="(z - max) - log(sum(exp(z - max))) along axis. attrs: axis."),
]
