"""Fused kernels: the ops the fusion passes make. Each is one declaration with its shape rule,
NumPy reference and cost, so a fused graph runs on the reference backend like any other.

- A fused elementwise kernel is an ordinary "elementwise" node (graphc/ops/elementwise.py)
  whose body has many statements; its attr `fused` names the ops it replaced.
- "fused_reduce": a reduction between two bodies, `epilogue(reduce(prologue(x_0..x_n)),
  e_1..e_m)` over `axes`: softmax's denominator, sum(a*b), mean((a-b)**2) as one kernel
  (the mean's division by the count is the epilogue, computed once per output element).
  Inputs: the prologue's operands, then the epilogue's extra operands.
- "fused_contraction": a matmul or two-operand einsum whose result runs through an
  elementwise epilogue, `epilogue(A@B, e_1..e_m)`: relu(x@W + b), dh * relu'(h).

Every statement keeps the dtype it had in the unfused graph, so the reference computes
exactly what the separate ops did. The autodiff driver differentiates a fused node by
expanding it back into those ops (graphc/grad/expand.py).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir.node import Attrs
from ..ir.op import OpDef, get_op
from ..ir.shapes import broadcast_shapes, dims_equal, fmt_shape, numel
from .common import concrete, evaluate_body
from .contract import einsum_numpy
from .elementwise import body_flops
from .reduce import REDUCTIONS, reduced_shape


def _check_epilogue(op, epilogue, acc_dtype, extras):
    if epilogue.n_params != 1 + len(extras):
        raise ValueError(f"{op}: the epilogue reads the accumulator and {epilogue.n_params - 1}"
                         f" operand(s), got {len(extras)}")
    if epilogue.param_dtypes[0] != acc_dtype:
        raise ValueError(f"{op}: the epilogue reads a {epilogue.param_dtypes[0]} accumulator, "
                         f"the reduction gives {acc_dtype}")
    for k, (e, d) in enumerate(zip(extras, epilogue.param_dtypes[1:])):
        if e.dtype != d:
            raise ValueError(f"{op}: epilogue operand {k} is {e.dtype}, the body reads {d}")


# ---- fused_reduce --------------------------------------------------------------------------
def prologue_shape(node):
    """The shape the prologue is computed at (its operands broadcast together)."""
    n = node.attrs["body"].n_params
    return broadcast_shapes("fused_reduce", *[i.shape for i in node.inputs[:n]])


def _fused_reduce_infer(inputs, attrs):
    reduce, body = attrs["reduce"], attrs["body"]
    if reduce not in REDUCTIONS:
        raise ValueError(f"fused_reduce: reduce must be one of {tuple(REDUCTIONS)}, "
                         f"got {reduce!r}")
    n = body.n_params
    pro, extras = inputs[:n], inputs[n:]
    for k, (i, d) in enumerate(zip(pro, body.param_dtypes)):
        if i.dtype != d:
            raise ValueError(f"fused_reduce: operand {k} is {i.dtype}, the prologue reads {d}")
    full = broadcast_shapes("fused_reduce", *[i.shape for i in pro])
    axes = tuple(attrs["axes"])
    if any(not isinstance(a, int) or not 0 <= a < len(full) for a in axes) or \
            list(axes) != sorted(set(axes)):
        raise ShapeError(f"fused_reduce: axes {axes} must be sorted, distinct axes of the "
                         f"prologue's shape {fmt_shape(full)}")
    shape = reduced_shape(full, axes, attrs["keepdims"])
    dtype = REDUCTIONS[reduce].dtype(body.dtype)
    epilogue = attrs.get("epilogue")
    if epilogue is None:
        if extras:
            raise ValueError(f"fused_reduce: {len(extras)} operand(s) more than the prologue "
                             f"reads, and no epilogue")
        return shape, dtype
    _check_epilogue("fused_reduce", epilogue, dtype, extras)
    out = broadcast_shapes("fused_reduce epilogue", shape, *[e.shape for e in extras])
    if len(out) != len(shape) or not all(dims_equal(a, b) for a, b in zip(out, shape)):
        raise ShapeError(f"fused_reduce: epilogue operands {[fmt_shape(e.shape) for e in extras]}"
                         f" widen the reduced shape {fmt_shape(shape)}")
    return shape, epilogue.dtype


def _fused_reduce_reference(values, node, dims):
    a = node.attrs
    body = a["body"]
    n = body.n_params
    pro = evaluate_body(body, values[:n], dims)
    pro = np.broadcast_to(np.asarray(pro), np.broadcast_shapes(*[v.shape for v in values[:n]]))
    acc = np.asarray(REDUCTIONS[a["reduce"]].numpy(pro, axis=a["axes"], keepdims=a["keepdims"]))
    acc_dtype = REDUCTIONS[a["reduce"]].dtype(body.dtype)
    if acc.dtype != np.float64 or acc_dtype == "float64":
        acc = acc.astype(acc_dtype, copy=False)  # the unfused graph stored it so
    epilogue = a.get("epilogue")
    if epilogue is None:
        return acc
    extras = [acc] + list(values[n:])
    out = evaluate_body(epilogue, extras, dims)
    return np.broadcast_to(np.asarray(out), concrete(node.shape, dims))


def _fused_reduce_flops(node):
    a = node.attrs
    full = prologue_shape(node)
    flops = body_flops(a["body"]) * numel(full) + \
        REDUCTIONS[a["reduce"]].flops(full, node.shape)
    if a.get("epilogue") is not None:
        flops += body_flops(a["epilogue"]) * numel(node.shape)
    return flops


# ---- fused_contraction ---------------------------------------------------------------------
def contraction_attrs(node) -> tuple[str, dict]:
    """(op, attrs) of the contraction inside a fused_contraction node."""
    return parse_contraction(node.attrs["contraction"])


def parse_contraction(c) -> tuple[str, dict]:
    if c == ("matmul",):
        return "matmul", {}
    if len(c) == 3 and c[0] == "einsum" and len(c[1]) == 2:
        return "einsum", {"terms": tuple(c[1]), "out": c[2]}
    raise ValueError(f"fused_contraction: contraction must be ('matmul',) or "
                     f"('einsum', (term_a, term_b), out), got {c!r}")


def accumulator(node) -> tuple:
    """(shape, dtype) of the contraction's result inside a fused_contraction."""
    op, c_attrs = contraction_attrs(node)
    return get_op(op).infer(tuple(node.inputs[:2]), Attrs(c_attrs))


def _fused_contraction_infer(inputs, attrs):
    if len(inputs) < 2:
        raise ValueError(f"fused_contraction: needs operands A and B, got {len(inputs)} input(s)")
    op, c_attrs = parse_contraction(attrs["contraction"])
    acc_shape, acc_dtype = get_op(op).infer(tuple(inputs[:2]), Attrs(c_attrs))
    epilogue = attrs["epilogue"]
    _check_epilogue("fused_contraction", epilogue, acc_dtype, inputs[2:])
    shape = broadcast_shapes("fused_contraction", acc_shape, *[e.shape for e in inputs[2:]])
    return shape, epilogue.dtype


def _fused_contraction_reference(values, node, dims):
    op, c_attrs = contraction_attrs(node)
    # NumPy's matmul and einsum give the contraction's dtype (the operands' promotion)
    acc = np.asarray(np.matmul(*values[:2]) if op == "matmul" else
                     einsum_numpy(c_attrs["terms"], c_attrs["out"], values[:2]))
    operands = [acc] + list(values[2:])
    out = evaluate_body(node.attrs["epilogue"], operands, dims)
    return np.broadcast_to(np.asarray(out), concrete(node.shape, dims))


def _fused_contraction_flops(node):
    op, c_attrs = contraction_attrs(node)
    from .contract import contraction_flops
    flops = contraction_flops(op, c_attrs, node.inputs[:2])
    return flops + body_flops(node.attrs["epilogue"]) * numel(node.shape)


DECLARATIONS = [
    OpDef("fused_reduce", "reduce", _fused_reduce_infer, _fused_reduce_reference,
          flops=_fused_reduce_flops, fused=True,
          doc="epilogue(reduce(body(inputs broadcast together)), extras) over axes. attrs: "
              "reduce (sum|max|logsumexp), body, axes, keepdims, optional epilogue (a Body "
              "over the accumulator and the extras), fused."),
    OpDef("fused_contraction", "contract", _fused_contraction_infer,
          _fused_contraction_reference, flops=_fused_contraction_flops, fused=True,
          doc="epilogue(A @ B, e_1..e_m). attrs: contraction (('matmul',) or "
              "('einsum', terms, out)), epilogue (a Body over the accumulator and the e_i), "
              "fused, schedule."),
]
