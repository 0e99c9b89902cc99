"""Fused kernels: the ops the fusion passes make. Each is one declaration with its shape rule
and NumPy reference, so a fused graph runs on the reference backend like any other.

- A fused elementwise kernel is an ordinary "elementwise" node (graphc/ops/elementwise.py)
  whose `fn` is the composed body (named "fused"); its attr `fused` names the ops it replaced.
- "fused_reduce": a reduction with an elementwise prologue, `reduce(fn(x_0..x_n))` over
  `axes`: softmax's denominator, log-sum-exp, sum(a*b), mean((a-b)**2) as one kernel.
- "fused_contraction": a matmul or two-operand einsum whose result runs through an
  elementwise epilogue, `epilogue(A@B, e_1..e_m)`: relu(x@W + b), dh * relu'(h).

Both take an optional attr `dtype` (as elementwise does) that overrides the result dtype;
the reference casts the prologue (or the accumulator) the way the unfused graph did. Their
gradient expands the node back into the primitives it stands for and differentiates those,
so an optimized graph can still be differentiated.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.graph import topo_order
from ..ir.node import Attrs, Node, make, rebuild
from ..ir.op import OpDef, get_op, register
from ..ir.scalar import ScalarFn, evaluate
from ..ir.shapes import fmt_shape
from .common import concrete, float_operands, is_float

REDUCTIONS = ("sum", "max", "logsumexp")
# What the elementwise shape rule needs to know of an operand (the accumulator is not a node).
_Operand = namedtuple("_Operand", "shape dtype")


def _prologue_infer(fn, operands, dtype):
    """Shape and dtype of `fn` over operands broadcast together: the elementwise rule."""
    return get_op("elementwise").infer(tuple(operands), Attrs({"fn": fn, "dtype": dtype}))


# ---- fused_reduce --------------------------------------------------------------------------
def _fused_reduce_infer(inputs, attrs):
    reduce = attrs["reduce"]
    if reduce not in REDUCTIONS:
        raise ValueError(f"fused_reduce: reduce must be one of {REDUCTIONS}, got {reduce!r}")
    full, dtype = _prologue_infer(attrs["fn"], inputs, attrs.get("dtype"))
    axes = tuple(attrs["axes"])
    if any(not isinstance(a, int) or not 0 <= a < len(full) for a in axes) or \
            list(axes) != sorted(set(axes)):
        raise ShapeError(f"fused_reduce: axes {axes} must be sorted, distinct axes of the "
                         f"prologue's shape {fmt_shape(full)}")
    if attrs["keepdims"]:
        return tuple(sympy.Integer(1) if k in axes else d for k, d in enumerate(full)), dtype
    return tuple(d for k, d in enumerate(full) if k not in axes), dtype


def _fused_reduce_reference(values, node, dims):
    a = node.attrs
    full, pro_dtype = _prologue_infer(a["fn"], node.inputs, a.get("dtype"))
    pro = evaluate(a["fn"], float_operands(values, pro_dtype), dims)
    pro = np.broadcast_to(np.asarray(pro), concrete(full, dims))
    # the unfused graph stored the prologue in the node's dtype before reducing it
    pro = pro.astype(node.dtype, copy=False)
    return get_op(a["reduce"]).reference([pro], node, dims)


# ---- fused_contraction ---------------------------------------------------------------------
def contraction_attrs(node) -> tuple[str, dict]:
    """(op, attrs) of the contraction inside a fused_contraction node."""
    return _parse_contraction(node.attrs["contraction"])


def _parse_contraction(c) -> tuple[str, dict]:
    if c == ("matmul",):
        return "matmul", {}
    if len(c) == 3 and c[0] == "einsum" and len(c[1]) == 2:
        return "einsum", {"terms": tuple(c[1]), "out": c[2]}
    raise ValueError(f"fused_contraction: contraction must be ('matmul',) or "
                     f"('einsum', (term_a, term_b), out), got {c!r}")


def _fused_contraction_infer(inputs, attrs):
    if len(inputs) < 2:
        raise ValueError(f"fused_contraction: needs operands A and B, got {len(inputs)} input(s)")
    op, c_attrs = _parse_contraction(attrs["contraction"])
    acc_shape, acc_dtype = get_op(op).infer(tuple(inputs[:2]), Attrs(c_attrs))
    acc = _Operand(acc_shape, acc_dtype)
    return _prologue_infer(attrs["epilogue"], (acc,) + tuple(inputs[2:]), attrs.get("dtype"))


def _fused_contraction_reference(values, node, dims):
    op, c_attrs = contraction_attrs(node)
    a, b = values[:2]
    if op == "matmul":
        acc = np.matmul(a, b)
    else:
        acc = np.einsum(",".join(c_attrs["terms"]) + "->" + c_attrs["out"], a, b)
    acc_dtype = get_op(op).infer(node.inputs[:2], Attrs(c_attrs))[1]
    acc = np.asarray(acc).astype(acc_dtype, copy=False)  # the unfused graph stored it so
    out = evaluate(node.attrs["epilogue"], float_operands([acc] + list(values[2:]), node.dtype),
                   dims)
    return np.broadcast_to(np.asarray(out), concrete(node.shape, dims))


# ---- what a fused node stands for ----------------------------------------------------------
def expand(node):
    """The primitive nodes a fused_reduce / fused_contraction stands for (over the same
    inputs): what the passes replaced, for gradients and for tests."""
    a = node.attrs
    if node.op == "fused_reduce":
        pro = make("elementwise", node.inputs, fn=a["fn"], dtype=a.get("dtype"))
        return make(a["reduce"], (pro,), axes=a["axes"], keepdims=a["keepdims"])
    if node.op == "fused_contraction":
        op, c_attrs = contraction_attrs(node)
        acc = make(op, node.inputs[:2], **c_attrs)
        return make("elementwise", (acc,) + node.inputs[2:], fn=a["epilogue"],
                    dtype=a.get("dtype"))
    raise ValueError(f"expand: {node.op!r} is not a fused_reduce or fused_contraction node")


def _vjp_by_expansion(node, g):
    """The vjp of the primitives the node stands for: the gradient of sum(expand(node) * g)
    taken over stand-in inputs, so that neither g nor a path between two inputs (b = f(a))
    is differentiated, then the stand-ins are replaced by the real nodes."""
    from ..dsl import mul, sum as total
    from ..grad.driver import grad
    stand_in: dict[int, Node] = {}  # x@x reads x twice: one stand-in, one cotangent
    for i in node.inputs:
        if id(i) not in stand_in:
            stand_in[id(i)] = make("input", (), name=f"_in{len(stand_in)}", shape=i.shape,
                                   dtype=i.dtype)
    local = rebuild(node, inputs=[stand_in[id(i)] for i in node.inputs])
    g_in = make("input", (), name="_g", shape=g.shape, dtype=g.dtype)
    wrt = [s for s in stand_in.values() if is_float(s.dtype)]
    grads = grad(total(mul(expand(local), g_in)), wrt) if wrt else []
    real = {id(stand_in[id(i)]): i for i in node.inputs}
    real[id(g_in)] = g
    by_input = dict(zip(map(id, wrt), _substitute(grads, real)))
    out, seen = [], set()
    for i in node.inputs:
        s = stand_in[id(i)]
        out.append(by_input.get(id(s)) if id(s) not in seen else None)
        seen.add(id(s))
    return tuple(out)


def _substitute(nodes, real: dict) -> list:
    """`nodes` rebuilt with each stand-in input replaced by the node it stands for."""
    done = dict(real)
    for n in topo_order(nodes):
        if id(n) not in done:
            done[id(n)] = rebuild(n, inputs=[done[id(i)] for i in n.inputs])
    return [done[id(n)] for n in nodes]


register(OpDef("fused_reduce", "reduce", _fused_reduce_infer, _fused_reduce_reference,
               _vjp_by_expansion,
               doc="reduce(fn(inputs broadcast together)) over axes. attrs: reduce "
                   "(sum|max|logsumexp), fn, axes, keepdims, fused, optional dtype."))
register(OpDef("fused_contraction", "contract", _fused_contraction_infer,
               _fused_contraction_reference, _vjp_by_expansion,
               doc="epilogue(A @ B, e_1..e_m). attrs: contraction (('matmul',) or "
                   "('einsum', terms, out)), epilogue, fused, optional dtype, schedule."))


# ---- helpers the fusion passes and drawings share ------------------------------------------
def fresh_params(n: int, prefix: str, avoid) -> tuple:
    """n parameter symbols prefix0, prefix1, ... whose names differ from `avoid`'s (the
    dims a body mentions: a dim named x0 and a parameter x0 would print alike)."""
    taken = {str(s) for s in avoid}
    out, k = [], 0
    while len(out) < n:
        name = f"{prefix}{k}"
        if name not in taken:
            out.append(sympy.Symbol(name))
        k += 1
    return tuple(out)


def body_lines(fn: ScalarFn) -> list[str]:
    """A kernel body as straight-line code, shared parts named once by sympy.cse (the
    readable form of a fused kernel: `t0 = x0 - x1`, `out = t0*t0`)."""
    temps, (expr,) = sympy.cse([fn.expr], symbols=sympy.numbered_symbols("t"))
    return [f"{t} = {e}" for t, e in temps] + [f"out = {expr}"]
