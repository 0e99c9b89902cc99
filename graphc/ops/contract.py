"""Contractions: matmul (np.matmul semantics) and einsum. The gradient of a contraction is
a contraction: d(A@B) = g@Bᵀ, Aᵀ@g; for einsum, the other operands contracted with g."""
from __future__ import annotations

import string

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.node import make
from ..ir.op import OpDef
from ..ir.shapes import broadcast_shapes, dims_equal, fmt_shape, numel
from .common import is_float, result_dtype


def _matmul_infer(inputs, attrs):
    a, b = inputs
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"matmul: operands need rank >= 2 here (the DSL lifts 1-D ones), "
                         f"got {fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    if not dims_equal(a.shape[-1], b.shape[-2]):
        raise ShapeError(f"matmul: shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} do not "
                         f"fit: contracted dims {a.shape[-1]} and {b.shape[-2]} differ")
    try:
        batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    except ShapeError:  # say it with the operands' whole shapes, not their batch parts
        raise ShapeError(f"matmul: shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} do not "
                         f"fit: batch dims {fmt_shape(a.shape[:-2])} and "
                         f"{fmt_shape(b.shape[:-2])} do not broadcast") from None
    _check_float("matmul", a, b)
    return batch + (a.shape[-2], b.shape[-1]), result_dtype(a.dtype, b.dtype)


def _check_float(op, *operands):
    for o in operands:
        if not is_float(o.dtype):
            raise ShapeError(f"{op}: operands must be float tensors, got {o.dtype} "
                             f"for shape {fmt_shape(o.shape)}")


def swap_last(t):
    perm = tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2)
    return make("transpose", (t,), perm=perm)


def _matmul_vjp(node, g):
    a, b = node.inputs
    return make("matmul", (g, swap_last(b))), make("matmul", (swap_last(a), g))


def matmul_flops(a, b) -> sympy.Expr:
    """A multiply-add is 2 FLOPs: (M, K) @ (K, N) is 2*M*K*N, per batch item."""
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    return 2 * numel(batch) * a.shape[-2] * a.shape[-1] * b.shape[-1]


def einsum_flops(terms, operands) -> sympy.Expr:
    """Every index combination once; per combination k-1 multiplies and 1 add (k operands)."""
    sizes = {}
    for t, o in zip(terms, operands):
        sizes.update(zip(t, o.shape))
    return len(operands) * numel(tuple(sizes.values()))


def contraction_flops(op: str, attrs, operands) -> sympy.Expr:
    return matmul_flops(*operands) if op == "matmul" else einsum_flops(attrs["terms"], operands)


MATMUL = OpDef("matmul", "contract", _matmul_infer,
               lambda values, node, dims: np.matmul(values[0], values[1]),
               _matmul_vjp, lambda node: matmul_flops(*node.inputs),
               doc="Batched matmul with broadcast batch dims (rank >= 2).")


def parse_einsum(equation: str, ndims: list[int]) -> tuple[list[str], str]:
    """'bik,bkj->bij' -> (['bik', 'bkj'], 'bij'); the implicit form and '...' as numpy."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string such as 'ij,jk->ik', "
                        f"got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise ShapeError(f"einsum: equation {equation!r} has more than one '->'")
    if "->" in eq:
        lhs, out = eq.split("->")
    else:
        lhs, out = eq, None
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ShapeError(f"einsum: equation {equation!r} has {len(terms)} operand(s), "
                         f"got {len(ndims)} tensor(s)")
    used = set("".join(terms).replace(".", ""))
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    width = max([n - len(t.replace("...", "")) for t, n in zip(terms, ndims) if "..." in t] or [0])
    ell = "".join(spare[:width])
    expanded = []
    for t, n in zip(terms, ndims):
        if "..." in t:
            k = n - len(t.replace("...", ""))
            if k < 0:
                raise ShapeError(f"einsum: operand subscripts {t!r} need rank >= "
                                 f"{len(t) - 3}, got rank {n}")
            # as in numpy, a shorter '...' stands for the trailing axes of the longest one
            # ('...i,...i->...' over (2, 3) and (3,)); the missing leading ones broadcast
            t = t.replace("...", ell[width - k:])
        expanded.append(t)
    if out is None:
        counts = {c: "".join(expanded).count(c) for c in set("".join(expanded))}
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    for t in expanded + [out]:
        # numpy's einsum takes ASCII letters only ('é'.isalpha() is true, yet it crashes)
        if not all(c in string.ascii_letters for c in t):
            raise ShapeError(f"einsum: subscripts must be letters, got {t!r} in {equation!r}")
    return expanded, out


def _shapes(inputs) -> str:
    return " and ".join(fmt_shape(i.shape) for i in inputs)


def _einsum_infer(inputs, attrs):
    terms, out = attrs["terms"], attrs["out"]
    eq = ",".join(terms) + "->" + out
    shown = _shapes(inputs)
    sizes: dict = {}
    for t, o in zip(terms, inputs):
        if len(t) != o.ndim:
            raise ShapeError(f"einsum {eq!r}: subscripts {t!r} do not fit operand of shape "
                             f"{fmt_shape(o.shape)} (rank {o.ndim}); shapes {shown}")
        if len(set(t)) != len(t):
            raise ShapeError(f"einsum {eq!r}: a repeated subscript in {t!r} (a diagonal) is "
                             f"not supported; shapes {shown}")
        for c, d in zip(t, o.shape):
            if c in sizes and not dims_equal(sizes[c], d):
                raise ShapeError(f"einsum {eq!r}: index {c!r} is {sizes[c]} in one operand and "
                                 f"{d} in another (shapes {shown})")
            sizes.setdefault(c, d)
    if len(set(out)) != len(out) or any(c not in sizes for c in out):
        raise ShapeError(f"einsum {eq!r}: output subscripts {out!r} must be distinct and "
                         f"appear in an operand; shapes {shown}")
    _check_float("einsum", *inputs)
    return tuple(sizes[c] for c in out), result_dtype(*[i.dtype for i in inputs])


def _einsum_reference(values, node, dims):
    return einsum_numpy(node.attrs["terms"], node.attrs["out"], values)


def einsum_numpy(terms, out, values):
    """np.einsum with its optimizer on: a contraction runs as tensordot (BLAS) rather than
    NumPy's element loop, which crawls over strided views (a convolution's windows) and large
    operands. fused_contraction calls this too, so a fused kernel computes the same bits."""
    return np.einsum(",".join(terms) + "->" + out, *values, optimize=True)


def _einsum_vjp(node, g):
    """d/d operand i: einsum of g with the other operands into operand i's subscripts;
    an index only operand i has (summed within it) comes back by broadcasting."""
    terms, out = node.attrs["terms"], node.attrs["out"]
    grads = []
    for i, (t, operand) in enumerate(zip(terms, node.inputs)):
        others = [(s, o) for k, (s, o) in enumerate(zip(terms, node.inputs)) if k != i]
        seen = set(out).union(*[set(s) for s, _ in others])
        kept = "".join(c for c in t if c in seen)
        grad = make("einsum", (g,) + tuple(o for _, o in others),
                    terms=(out,) + tuple(s for s, _ in others), out=kept)
        if kept != t:
            # kept is in t's order, so a reshape inserting 1s lines the axes up
            lifted = tuple(d if c in seen else sympy.Integer(1) for c, d in zip(t, operand.shape))
            grad = make("reshape", (grad,), shape=lifted)
            grad = make("broadcast_to", (grad,), shape=operand.shape)
        grads.append(grad)
    return tuple(grads)


EINSUM = OpDef("einsum", "contract", _einsum_infer, _einsum_reference, _einsum_vjp,
               lambda node: einsum_flops(node.attrs["terms"], node.inputs),
               doc="Einstein summation. attrs: terms (per-operand subscripts), out.")
DECLARATIONS = [MATMUL, EINSUM]
