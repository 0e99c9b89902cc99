"""Lowering of contractions (matmul, einsum, and either with a fused elementwise epilogue):
the operands' letters grouped into (batch..., m, n, k), each operand a view where its letters
merge in place (else a packing copy, a recorded decision), one ContractKernel, and an
elementwise kernel after it where the output's letters interleave the groups.
"""
from __future__ import annotations

import sympy

from ..ir.op import get_op
from ..ir.shapes import broadcast_shapes
from ..ops.fused import contraction_attrs
from ..passes.tile import choose_schedule
from .program import ContractKernel, ElementwiseKernel, Loop, identity, provenance
from .views import ZERO, Access, View, align


def _contraction(lw, node):
    if node.op == "fused_contraction":
        op, c_attrs = contraction_attrs(node)
        operands, extras, epilogue = node.inputs[:2], node.inputs[2:], node.attrs["epilogue"]
    else:
        op, c_attrs = node.op, node.attrs.as_dict()
        operands, extras, epilogue = node.inputs, (), None
    if op == "einsum" and len(operands) != 2:
        return lw.reference(node)
    letters = _letters(op, c_attrs, operands)
    if letters is None:
        return lw.reference(node)
    batch, m, n, k, ta, tb, to = letters
    acc_shape, acc_dtype = get_op(op).infer(tuple(operands), _attrs(c_attrs))
    if tuple(acc_shape) != tuple(node.shape):
        # an epilogue that widens the result: contraction first, then the epilogue
        acc = _contraction_into(lw, node, operands, letters, acc_shape, acc_dtype, None, ())
        body = epilogue
        out = lw.result(node)
        domain = tuple(node.shape)
        ops = (align(acc, domain),) + tuple(align(lw.view_of(e), domain) for e in extras)
        lw.emit(ElementwiseKernel(lw.kernel_name(node), provenance(node), domain, ops, body,
                                  align(out, domain), Loop.over(domain)))
        return out
    return _contraction_into(lw, node, operands, letters, acc_shape, acc_dtype, epilogue,
                             extras)


def _attrs(d):
    from ..ir.node import Attrs
    return Attrs(d)


def _letters(op, attrs, operands):
    """Index letters of the contraction: (batch, m, n, k) groups and the operands' and the
    output's subscripts; None for an einsum this kernel does not compute (an index summed
    within one operand)."""
    a, b = operands
    if op == "matmul":
        nb = max(a.ndim, b.ndim) - 2
        batch = "".join(chr(ord("p") + j) for j in range(nb))
        ta = batch[nb - (a.ndim - 2):] + "mk"
        tb = batch[nb - (b.ndim - 2):] + "kn"
        return list(batch), ["m"], ["n"], ["k"], ta, tb, batch + "mn"
    ta, tb = attrs["terms"]
    to = attrs["out"]
    batch = [c for c in to if c in ta and c in tb]
    m = [c for c in to if c in ta and c not in tb]
    n = [c for c in to if c in tb and c not in ta]
    k = [c for c in ta if c in tb and c not in to]
    if any(c not in to and c not in k for c in ta + tb):
        return None
    return batch, m, n, k, ta, tb, to


def _group_view(lw, view: View, term: str, groups, sizes, why: str, dtype=None) -> View:
    """`view` (subscripts `term`) as one axis per group (letters merged), broadcasting the
    letters it lacks; a copy where the merge cannot be a view, or where the operand's dtype is
    not the contraction's (float32 @ float64 multiplies in float64: the kernels and BLAS read
    both operands in one dtype)."""
    dtype = dtype or lw.buffers[view.buffer].dtype
    if lw.buffers[view.buffer].dtype != dtype:
        view = lw.copy(view, dtype, f"{why}: {lw.buffers[view.buffer].dtype} to {dtype}")
    perm, shape = [], []
    for g in groups:
        for c in g:
            if c in term:
                perm.append(term.index(c))
    v = view.transpose(tuple(perm))
    present = "".join(c for g in groups for c in g if c in term)
    # broadcast letters the operand lacks (a matmul's batch): insert them with stride 0
    strides, vshape, it = [], [], iter(range(len(present)))
    for g in groups:
        for c in g:
            if c in present:
                j = next(it)
                vshape.append(v.shape[j])
                strides.append(v.strides[j])
            else:
                vshape.append(sizes[c])
                strides.append(ZERO)
    v = View(v.buffer, tuple(vshape), tuple(strides), v.offset)
    merged = tuple(sympy.Mul(*[sizes[c] for c in g]) if g else sympy.Integer(1)
                   for g in groups)
    if all(len(g) <= 1 for g in groups):
        # one axis per group as it is: the operand's own sizes, so that a batch axis of size
        # 1 against a larger one (a broadcast) reads as one (the caller gives it stride 0)
        first = [sum(len(h) for h in groups[:i]) for i in range(len(groups))]
        return View(v.buffer, tuple(v.shape[j] if g else sympy.Integer(1)
                                    for j, g in zip(first, groups)),
                    tuple(v.strides[j] if g else ZERO for j, g in zip(first, groups)), v.offset)
    out = v.reshape(merged)
    if out is None:
        out = lw.copy(v, dtype, why).reshape(merged)
    return out


def _contraction_into(lw, node, operands, letters, acc_shape, acc_dtype, epilogue, extras):
    batch, m, n, k, ta, tb, to = letters
    a, b = operands
    sizes = {}
    for t, o in ((ta, a), (tb, b)):
        for c, d in zip(t, o.shape):
            if d != 1 or c not in sizes:
                sizes[c] = d
    for c in batch:  # a broadcast batch axis takes the larger size
        sizes[c] = broadcast_shapes("matmul", (sizes.get(c, 1),),
                                    *[(o.shape[t.index(c)],) for t, o in ((ta, a), (tb, b))
                                      if c in t])[0]
    bm = [[c] for c in batch]
    va = _group_view(lw, lw.view_of(a), ta, bm + [m, k], sizes, "pack A of a contraction",
                     acc_dtype)
    vb = _group_view(lw, lw.view_of(b), tb, bm + [k, n], sizes, "pack B of a contraction",
                     acc_dtype)
    nb = len(batch)
    mm = sympy.Mul(*[sizes[c] for c in m]) if m else sympy.Integer(1)
    nn = sympy.Mul(*[sizes[c] for c in n]) if n else sympy.Integer(1)
    kk = sympy.Mul(*[sizes[c] for c in k]) if k else sympy.Integer(1)
    domain = tuple(sizes[c] for c in batch) + (mm, nn, kk)
    # a: (batch..., m, k) -> domain (batch..., m, n, k)
    sa = tuple(ZERO if va.shape[j] == 1 and domain[j] != 1 else va.strides[j]
               for j in range(nb)) + (va.strides[nb], ZERO, va.strides[nb + 1])
    sb = tuple(ZERO if vb.shape[j] == 1 and domain[j] != 1 else vb.strides[j]
               for j in range(nb)) + (ZERO, vb.strides[nb + 1], vb.strides[nb])
    canonical = "".join(batch) + "".join(m) + "".join(n)
    result = lw.result(node) if epilogue is not None or tuple(acc_shape) == tuple(node.shape) \
        else View.whole(lw.buffer("buf", acc_shape, acc_dtype).name, acc_shape)
    out_buf = result.buffer
    if canonical == to:
        out_view = View.whole(out_buf, acc_shape)
        grouped_out = _group_view(lw, out_view, to, bm + [m, n], sizes, "")
        direct = grouped_out.buffer == out_buf
    else:
        direct = False
    if direct:
        so = tuple(grouped_out.strides) + (ZERO,)
        out_access = Access(out_buf, so, grouped_out.offset)
        extra_access = tuple(_extra_over(lw, lw.view_of(e), node.shape, to, bm + [m, n], sizes)
                             for e in extras)
        lw.emit(ContractKernel(lw.kernel_name(node), provenance(node), domain,
                               Access(va.buffer, sa, va.offset), Access(vb.buffer, sb, vb.offset),
                               acc_dtype, epilogue or identity(acc_dtype), extra_access,
                               out_access, _schedule(node)))
        return result
    # the output's subscripts interleave the groups: contract into (batch, m, n) order,
    # then write the result (and run the epilogue) in the output's order
    tmp_shape = tuple(sizes[c] for c in canonical)
    tmp = View.whole(lw.buffer("buf", tmp_shape, acc_dtype).name, tmp_shape)
    g = _group_view(lw, tmp, canonical, bm + [m, n], sizes, "")
    lw.emit(ContractKernel(lw.kernel_name(node), provenance(node)[:1], domain,
                           Access(va.buffer, sa, va.offset), Access(vb.buffer, sb, vb.offset),
                           acc_dtype, identity(acc_dtype), (),
                           Access(g.buffer, tuple(g.strides) + (ZERO,), g.offset),
                           _schedule(node)))
    lw.decisions.append(f"{lw.kernels[-1].name}: contraction into ({canonical}) order, "
                        f"then written as ({to})")
    perm = tuple(canonical.index(c) for c in to)
    acc_view = tmp.transpose(perm)
    domain_out = tuple(node.shape)
    ops = (align(acc_view, domain_out),) + tuple(align(lw.view_of(e), domain_out)
                                                 for e in extras)
    lw.emit(ElementwiseKernel(lw.kernel_name(node), provenance(node)[1:] or ("copy",),
                              domain_out, ops, epilogue or identity(acc_dtype),
                              align(result, domain_out), Loop.over(domain_out)))
    return result


def _extra_over(lw, view: View, shape, to, groups, sizes) -> Access:
    """An epilogue operand over the contraction's domain (batch..., m, n, k): aligned to the
    result's shape (subscripts `to`), its letters grouped as the result's, stride 0 along k."""
    acc = align(view, shape)
    full = View(acc.buffer, tuple(shape), acc.strides, acc.offset)
    g = _group_view(lw, full, to, groups, sizes, "an epilogue operand of a contraction")
    return Access(g.buffer, tuple(g.strides) + (ZERO,), g.offset)


def _schedule(node):
    return node.attrs.get("schedule") or choose_schedule(node)


RULES = {"matmul": _contraction, "einsum": _contraction, "fused_contraction": _contraction}
