"""Reductions over axes: sum, max, and the numerically stable log-sum-exp."""
from __future__ import annotations

import numpy as np

from ..ir.node import make
from ..ir.op import OpDef, register


def _infer(inputs, attrs):
    (a,) = inputs
    axes = attrs["axes"]
    if attrs["keepdims"]:
        shape = tuple(1 if k in axes else d for k, d in enumerate(a.shape))
    else:
        shape = tuple(d for k, d in enumerate(a.shape) if k not in axes)
    from ..ir.shapes import as_shape
    return as_shape(shape), a.dtype


def _keep(node, g):
    """The cotangent of a reduction, broadcast back over the reduced axes."""
    a = node.inputs[0]
    if not node.attrs["keepdims"]:
        kept = tuple(1 if k in node.attrs["axes"] else d for k, d in enumerate(a.shape))
        g = make("reshape", (g,), shape=_as_shape(kept))
    return make("broadcast_to", (g,), shape=a.shape)


def _as_shape(s):
    from ..ir.shapes import as_shape
    return as_shape(s)


def _sum_vjp(node, g):
    return (_keep(node, g),)


def _max_vjp(node, g):
    """Ties share the gradient equally, as torch.amax does."""
    from .elementwise import EQUAL
    a = node.inputs[0]
    mask = make("elementwise", (a, _keep(node, node)), fn=EQUAL, dtype=a.dtype)
    count = make("sum", (mask,), axes=node.attrs["axes"], keepdims=True)
    share = make("elementwise", (mask, count), fn=_div())
    return (make("elementwise", (_keep(node, g), share), fn=_mul()),)


def _logsumexp_vjp(node, g):
    """d lse/dx = softmax(x) = exp(x - lse(x))."""
    from .elementwise import EXP, SUB
    a = node.inputs[0]
    lse = _keep(node, node)
    soft = make("elementwise", (make("elementwise", (a, lse), fn=SUB),), fn=EXP)
    return (make("elementwise", (_keep(node, g), soft), fn=_mul()),)


def _mul():
    from .elementwise import MUL
    return MUL


def _div():
    from .elementwise import DIV
    return DIV


def _lse(a, axis, keepdims):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


_NUMPY = {"sum": np.sum, "max": np.max, "logsumexp": _lse}
_VJP = {"sum": _sum_vjp, "max": _max_vjp, "logsumexp": _logsumexp_vjp}

for _name in ("sum", "max", "logsumexp"):
    def _ref(values, node, dims, _f=_NUMPY[_name]):
        out = _f(values[0], axis=node.attrs["axes"], keepdims=node.attrs["keepdims"])
        return np.asarray(out)
    register(OpDef(_name, "reduce", _infer, _ref, _VJP[_name],
                   doc=f"{_name} over axes. attrs: axes (sorted tuple), keepdims."))
