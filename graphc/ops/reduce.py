"""Reductions over axes: sum, max, and the numerically stable log-sum-exp."""
from __future__ import annotations

import numpy as np

from ..ir.node import make
from ..ir.op import OpDef, register
from ..ir.shapes import as_shape
from .common import is_float
from .elementwise import DIV, EQUAL, EXP, MUL, SUB


def _infer(inputs, attrs, dtype_of=lambda dtype: dtype):
    (a,) = inputs
    axes = attrs["axes"]
    if attrs["keepdims"]:
        shape = tuple(1 if k in axes else d for k, d in enumerate(a.shape))
    else:
        shape = tuple(d for k, d in enumerate(a.shape) if k not in axes)
    return as_shape(shape), dtype_of(a.dtype)


def _sum_dtype(dtype: str) -> str:
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
    """Ties share the gradient equally, as torch.amax does."""
    a = node.inputs[0]
    mask = make("elementwise", (a, _keep(node, node)), fn=EQUAL, dtype=a.dtype)
    count = make("sum", (mask,), axes=node.attrs["axes"], keepdims=True)
    share = make("elementwise", (mask, count), fn=DIV)
    return (make("elementwise", (_keep(node, g), share), fn=MUL),)


def _logsumexp_vjp(node, g):
    """d lse/dx = softmax(x) = exp(x - lse(x))."""
    a = node.inputs[0]
    lse = _keep(node, node)
    soft = make("elementwise", (make("elementwise", (a, lse), fn=SUB),), fn=EXP)
    return (make("elementwise", (_keep(node, g), soft), fn=MUL),)


def _max(a, axis, keepdims):
    if a.size == 0 and any(a.shape[k] == 0 for k in axis):
        # numpy's own message ("zero-size array to reduction operation maximum which has no
        # identity") names neither the op nor the shape
        raise ValueError(f"max: cannot reduce axes {axis} of an array of shape {a.shape}: "
                         f"a maximum over no elements is undefined")
    return np.max(a, axis=axis, keepdims=keepdims)


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


_NUMPY = {"sum": np.sum, "max": _max, "logsumexp": _lse}
_VJP = {"sum": _sum_vjp, "max": _max_vjp, "logsumexp": _logsumexp_vjp}
_DTYPE = {"sum": _sum_dtype, "max": lambda dtype: dtype, "logsumexp": _logsumexp_dtype}

for _name in ("sum", "max", "logsumexp"):
    def _ref(values, node, dims, _f=_NUMPY[_name]):
        out = _f(values[0], axis=node.attrs["axes"], keepdims=node.attrs["keepdims"])
        return np.asarray(out)

    def _infer_dtype(inputs, attrs, _d=_DTYPE[_name]):
        return _infer(inputs, attrs, _d)
    register(OpDef(_name, "reduce", _infer_dtype, _ref, _VJP[_name],
                   doc=f"{_name} over axes. attrs: axes (sorted tuple), keepdims."))
