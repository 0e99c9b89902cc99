"""Lowering rules of sources, layout views and the ops that are one kernel each: elementwise
bodies, reductions (fused prologues and epilogues included), argmax, softmax and one_hot. Each rule
is `rule(lowering, node) -> View` (graphc/lower/lowering.py holds the table and the walk).
"""
from __future__ import annotations

import numpy as np

from ..ops.fused import prologue_shape
from ..ops.reduce import REDUCTIONS
from .program import (ArgmaxKernel, ElementwiseKernel, Loop, NormalizeKernel, OneHotKernel,
                      ReduceKernel, identity, provenance)
from .views import ZERO, Access, View, align, row_major


# ---- sources and layout ------------------------------------------------------------------
def _constant(lw, node):
    a = np.ascontiguousarray(node.attrs["value"].array).reshape(-1)
    buf = lw.buffer("const", node.shape, node.dtype, "const")
    lw.consts[buf.name] = a
    return View.whole(buf.name, node.shape)


def _transpose(lw, node):
    return lw.view_of(node.inputs[0]).transpose(node.attrs["perm"])


def _broadcast(lw, node):
    return lw.view_of(node.inputs[0]).broadcast_to(node.shape)


def _stop_gradient(lw, node):
    return lw.view_of(node.inputs[0])


def _reshape(lw, node):
    v = lw.view_of(node.inputs[0])
    out = v.reshape(node.shape)
    if out is not None:
        return out
    flat = lw.copy(v, node.dtype, f"reshape to {tuple(node.shape)} of a strided view")
    return flat.reshape(node.shape)


# ---- kernels ----------------------------------------------------------------------------
def _elementwise(lw, node):
    out = lw.result(node)
    domain = tuple(node.shape)
    operands = tuple(align(lw.view_of(i), domain) for i in node.inputs)
    lw.emit(ElementwiseKernel(lw.kernel_name(node), provenance(node), domain, operands,
                              node.attrs["body"], align(out, domain), Loop.over(domain)))
    return out


def _reduce(lw, node):
    a = node.attrs
    if node.op == "fused_reduce":
        body, n = a["body"], a["body"].n_params
        pro_inputs, extras = node.inputs[:n], node.inputs[n:]
        domain = tuple(prologue_shape(node))
        reduce = a["reduce"]
    else:
        body, pro_inputs, extras = identity(node.inputs[0].dtype), node.inputs, ()
        domain, reduce = tuple(node.inputs[0].shape), node.op
    axes = tuple(a["axes"])
    out = lw.result(node)
    kept = [k for k in range(len(domain)) if k not in axes]
    out_access = _reduced_out(out, domain, axes)
    operands = tuple(align(lw.view_of(i), domain) for i in pro_inputs)
    extra_access = tuple(_over_domain(align(lw.view_of(e), node.shape), kept, axes, domain,
                                      a["keepdims"]) for e in extras)
    acc_dtype = REDUCTIONS[reduce].dtype(body.dtype)
    lw.emit(ReduceKernel(lw.kernel_name(node), provenance(node), domain, axes, reduce,
                         operands, body, acc_dtype, a.get("epilogue"), extra_access,
                         out_access, Loop.over(domain, axes)))
    return out


def _reduced_out(out: View, domain, axes) -> Access:
    """A reduction's contiguous result over its full domain: stride 0 on the reduced axes."""
    kept = [k for k in range(len(domain)) if k not in axes]
    strides = [ZERO] * len(domain)
    for k, s in zip(kept, row_major([domain[k] for k in kept])):
        strides[k] = s
    return Access(out.buffer, tuple(strides))


def _argmax(lw, node):
    (a,) = node.inputs
    domain, axes = tuple(a.shape), (node.attrs["axis"],)
    out = lw.result(node)
    lw.emit(ArgmaxKernel(lw.kernel_name(node), provenance(node), domain, axes, "argmax",
                         (align(lw.view_of(a), domain),), identity(a.dtype), node.dtype, None,
                         (), _reduced_out(out, domain, axes), Loop.over(domain, axes)))
    return out


def _over_domain(acc: Access, kept, axes, domain, keepdims) -> Access:
    """An access over the reduction's output shape, re-indexed over its full domain
    (reduced axes stride 0)."""
    if keepdims:
        return Access(acc.buffer, tuple(ZERO if k in axes else s
                                        for k, s in enumerate(acc.strides)), acc.offset)
    strides = [ZERO] * len(domain)
    for k, s in zip(kept, acc.strides):
        strides[k] = s
    return Access(acc.buffer, tuple(strides), acc.offset)


def _normalize(lw, node):
    out = lw.result(node)
    domain = tuple(node.shape)
    axis = node.attrs["axis"]
    lw.emit(NormalizeKernel(lw.kernel_name(node), provenance(node), node.op, domain, axis,
                            align(lw.view_of(node.inputs[0]), domain), align(out, domain),
                            node.dtype, Loop.over(domain, (axis,))))
    return out


def _one_hot(lw, node):
    out = lw.result(node)
    domain = tuple(node.shape)
    labels = align(lw.view_of(node.inputs[0]), domain[:-1])
    labels = Access(labels.buffer, labels.strides + (ZERO,), labels.offset)
    lw.emit(OneHotKernel(lw.kernel_name(node), provenance(node), domain, labels,
                         align(out, domain), node.dtype))
    return out


RULES = {"constant": _constant, "transpose": _transpose, "broadcast_to": _broadcast,
         "stop_gradient": _stop_gradient, "reshape": _reshape, "elementwise": _elementwise,
         **{op: _reduce for op in ("sum", "max", "min", "logsumexp", "fused_reduce")},
         "argmax": _argmax,
         "softmax": _normalize, "log_softmax": _normalize, "one_hot": _one_hot}
