"""graph -> Program: each node of the optimized graph becomes a view or a kernel.

Walking the graph inputs-first: inputs and constants are buffers; layout ops become views of
what they read (a copy kernel where no view can express them, a decision recorded for
gc.explain); every other node becomes one kernel writing a new flat buffer. The outputs are
whole buffers handed to the caller (copied where an output is a view, or an input).
Dispatch is a table from op name to a lowering function; an op with none runs its NumPy
reference from native code (ReferenceKernel), so every op in the table runs everywhere.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..ir.body import Body
from ..ir.graph import Graph, topo_order
from ..ir.op import get_op
from ..ir.shapes import broadcast_shapes
from ..ops.fused import contraction_attrs, prologue_shape
from ..ops.reduce import REDUCTIONS
from ..passes.tile import choose_schedule
from .plan import plan_memory
from .program import (Buffer, ContractKernel, ElementwiseKernel, Loop, NormalizeKernel,
                      OneHotKernel, Program, ReduceKernel, ReferenceKernel)
from .views import ZERO, Access, View, align, row_major

LOWER = {}  # op name -> function(lowering, node) -> View


def lowers(*ops):
    def register(fn):
        for op in ops:
            LOWER[op] = fn
        return fn
    return register


def lower(graph: Graph, donate: dict | None = None) -> Program:
    """The Program of an optimized graph (see graphc/lower/program.py). `donate` maps an
    output's index to the name of an input whose array it may be written into (a training
    step's new parameters into the parameters): where the kernel computing it is the last to
    read that input and reads it element for element, it writes there directly; else a copy
    at the end does."""
    return _Lowering(graph, donate or {}).run()


def identity(dtype: str) -> Body:
    """A body returning its one parameter: what a copy computes."""
    return Body((dtype,), (), 0)


def provenance(node) -> tuple:
    if "fused" in node.attrs:
        return tuple(node.attrs["fused"])
    return (node.attrs["body"].name,) if node.op == "elementwise" else (node.op,)


class _Lowering:
    def __init__(self, graph: Graph, donate: dict):
        self.graph, self.donate = graph, donate
        self.buffers: dict[str, Buffer] = {}
        self.consts: dict[str, np.ndarray] = {}
        self.kernels: list = []
        self.views: dict[int, View] = {}
        self.decisions: list[str] = []

    # ---- buffers and kernels ------------------------------------------------------------
    def buffer(self, prefix: str, shape, dtype: str, role: str = "temp") -> Buffer:
        name = f"{prefix}{len(self.buffers)}"
        buf = Buffer(name, tuple(shape), dtype, role)
        self.buffers[name] = buf
        return buf

    def kernel_name(self, node_or_names) -> str:
        names = node_or_names if isinstance(node_or_names, tuple) else provenance(node_or_names)
        short = "_".join(n.replace("/", "").replace("d", "d") for n in names[:3])
        short = "".join(c if c.isalnum() or c == "_" else "_" for c in short)
        return f"k{len(self.kernels)}_{short}"[:48]

    def emit(self, kernel) -> None:
        self.kernels.append(kernel)

    def copy(self, view: View, dtype: str, why: str, role: str = "temp") -> View:
        """`view`'s elements written to a new contiguous buffer, by a copy kernel."""
        out = self.buffer("buf", view.shape, dtype, role)
        name = self.kernel_name(("copy",))
        domain = view.shape
        self.emit(ElementwiseKernel(name, ("copy",), domain, (align(view, domain),),
                                    identity(dtype), align(View.whole(out.name, domain), domain),
                                    _loop(domain)))
        self.decisions.append(f"{name}: copy ({why})")
        return View.whole(out.name, view.shape)

    def view_of(self, node) -> View:
        return self.views[id(node)]

    # ---- the walk -----------------------------------------------------------------------
    def run(self) -> Program:
        inputs = []
        for node in self.graph.inputs:
            buf = Buffer(f"in_{node.name}", tuple(node.shape), node.dtype, "input")
            self.buffers[buf.name] = buf
            inputs.append(buf)
            self.views[id(node)] = View.whole(buf.name, node.shape)
        for node in topo_order(self.graph.outputs):
            if id(node) in self.views:
                continue
            rule = LOWER.get(node.op, _reference)
            self.views[id(node)] = rule(self, node)
        outputs = self._outputs()
        for index, name in self.donate.items():
            outputs[index] = self._donated(outputs[index], f"in_{name}")
        dims = sorted({s for b in inputs for d in b.shape
                       for s in getattr(d, "free_symbols", ())}, key=str)
        program = Program(inputs, self.consts, self.buffers, self.kernels, outputs, dims,
                          self.decisions)
        program.plan = plan_memory(program)
        return program

    def _outputs(self) -> list:
        """A whole fresh buffer per output: a kernel's own result where the output is one
        (and no other output is it), else a copy."""
        outs, claimed = [], set()
        for node in self.graph.outputs:
            v = self.view_of(node)
            buf = self.buffers[v.buffer]
            whole = v == View.whole(buf.name, buf.shape) and tuple(v.shape) == tuple(node.shape)
            if buf.role == "temp" and whole and buf.name not in claimed:
                self.buffers[buf.name] = Buffer(buf.name, buf.shape, buf.dtype, "output")
                claimed.add(buf.name)
                outs.append(v)
                continue
            why = ("an input handed back is copied" if buf.role == "input" else
                   "an output that is a view" if not whole else
                   "a constant handed back" if buf.role == "const" else
                   "the same value asked for twice")
            outs.append(self.copy(v, node.dtype, why, role="output"))
            claimed.add(outs[-1].buffer)
        return outs


    def _donated(self, out: View, target: str) -> View:
        """Output `out` written into input buffer `target` instead of a fresh array."""
        tbuf, obuf = self.buffers[target], self.buffers[out.buffer]
        if tbuf.dtype != obuf.dtype or tuple(tbuf.shape) != tuple(obuf.shape):
            raise ValueError(f"donate: output {out.buffer} ({obuf.dtype} {obuf.shape}) cannot "
                             f"be written into input {target[3:]} ({tbuf.dtype} {tbuf.shape})")
        writer = next(j for j, k in enumerate(self.kernels) if out.buffer in k.writes())
        later = any(target in k.reads() for k in self.kernels[writer + 1:])
        kernel = self.kernels[writer]
        if not later and _reads_in_place(kernel, target):
            # the kernel writes the input's array, and what read its result reads it there
            self.kernels[writer:] = [_renamed(k, out.buffer, target)
                                     for k in self.kernels[writer:]]
            del self.buffers[out.buffer]
            return View.whole(target, tbuf.shape)
        domain = tbuf.shape
        name = self.kernel_name(("copy",))
        self.emit(ElementwiseKernel(name, ("copy",), domain, (align(out, domain),),
                                    identity(obuf.dtype),
                                    align(View.whole(target, domain), domain), _loop(domain)))
        self.buffers[out.buffer] = Buffer(obuf.name, obuf.shape, obuf.dtype, "temp")
        self.decisions.append(f"{name}: copy into input {target[3:]} (its old values are read "
                              f"after the update is computed)")
        return View.whole(target, tbuf.shape)


def _accesses(kernel) -> list:
    """Every Access a kernel reads with, and the one it writes with."""
    reads = list(getattr(kernel, "operands", ())) + list(getattr(kernel, "extras", ()))
    for name in ("a", "b", "labels", "operand"):
        if hasattr(kernel, name):
            reads.append(getattr(kernel, name))
    return reads


def _reads_in_place(kernel, buffer: str) -> bool:
    """The kernel reads `buffer` only at the element it writes (so writing it there is safe).
    A contraction BLAS may compute writes its result before any epilogue: only when BLAS
    itself takes the epilogue (alpha and beta of one gemm) may it read its result's buffer."""
    if isinstance(kernel, ReferenceKernel) or not hasattr(kernel, "out"):
        return False
    out = kernel.out
    if not all(a.strides == out.strides and a.offset == out.offset
               for a in _accesses(kernel) if a.buffer == buffer):
        return False
    if isinstance(kernel, ContractKernel) and kernel.dense_layout() is not None:
        return _renamed(kernel, kernel.out.buffer, buffer).gemm_form() is not None or \
            all(a.buffer != buffer for a in _accesses(kernel))
    return True


def _renamed(kernel, old: str, new: str):
    """`kernel` with every access to buffer `old` made an access to `new`."""
    import dataclasses

    def rename(value):
        if isinstance(value, Access) and value.buffer == old:
            return Access(new, value.strides, value.offset)
        if isinstance(value, tuple) and value and isinstance(value[0], Access):
            return tuple(rename(v) for v in value)
        return value
    changes = {f.name: rename(getattr(kernel, f.name)) for f in dataclasses.fields(kernel)}
    return dataclasses.replace(kernel, **changes)


def _loop(domain, reduced=()) -> Loop:
    kept = [k for k in range(len(domain)) if k not in reduced]
    return Loop(kept[0] if kept else None)


# ---- sources and layout ------------------------------------------------------------------
@lowers("constant")
def _constant(lw, node):
    a = np.ascontiguousarray(node.attrs["value"].array).reshape(-1)
    buf = lw.buffer("const", node.shape, node.dtype, "const")
    lw.consts[buf.name] = a
    return View.whole(buf.name, node.shape)


@lowers("transpose")
def _transpose(lw, node):
    return lw.view_of(node.inputs[0]).transpose(node.attrs["perm"])


@lowers("broadcast_to")
def _broadcast(lw, node):
    return lw.view_of(node.inputs[0]).broadcast_to(node.shape)


@lowers("stop_gradient")
def _stop_gradient(lw, node):
    return lw.view_of(node.inputs[0])


@lowers("reshape")
def _reshape(lw, node):
    v = lw.view_of(node.inputs[0])
    out = v.reshape(node.shape)
    if out is not None:
        return out
    flat = lw.copy(v, node.dtype, f"reshape to {tuple(node.shape)} of a strided view")
    return flat.reshape(node.shape)


# ---- kernels ----------------------------------------------------------------------------
def _result(lw, node) -> View:
    buf = lw.buffer("buf", node.shape, node.dtype)
    return View.whole(buf.name, node.shape)


@lowers("elementwise")
def _elementwise(lw, node):
    out = _result(lw, node)
    domain = tuple(node.shape)
    operands = tuple(align(lw.view_of(i), domain) for i in node.inputs)
    lw.emit(ElementwiseKernel(lw.kernel_name(node), provenance(node), domain, operands,
                              node.attrs["body"], align(out, domain), _loop(domain)))
    return out


@lowers("sum", "max", "logsumexp", "fused_reduce")
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
    out = _result(lw, node)
    kept = [k for k in range(len(domain)) if k not in axes]
    kept_strides = row_major([domain[k] for k in kept])
    out_strides = [ZERO] * len(domain)
    for k, s in zip(kept, kept_strides):
        out_strides[k] = s
    out_access = Access(out.buffer, tuple(out_strides))
    operands = tuple(align(lw.view_of(i), domain) for i in pro_inputs)
    extra_access = tuple(_over_domain(align(lw.view_of(e), node.shape), kept, axes, domain,
                                      a["keepdims"]) for e in extras)
    acc_dtype = REDUCTIONS[reduce].dtype(body.dtype)
    lw.emit(ReduceKernel(lw.kernel_name(node), provenance(node), domain, axes, reduce,
                         operands, body, acc_dtype, a.get("epilogue"), extra_access,
                         out_access, _loop(domain, axes)))
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


@lowers("softmax", "log_softmax")
def _normalize(lw, node):
    out = _result(lw, node)
    domain = tuple(node.shape)
    axis = node.attrs["axis"]
    lw.emit(NormalizeKernel(lw.kernel_name(node), provenance(node), node.op, domain, axis,
                            align(lw.view_of(node.inputs[0]), domain), align(out, domain),
                            node.dtype, _loop(domain, (axis,))))
    return out


@lowers("one_hot")
def _one_hot(lw, node):
    out = _result(lw, node)
    domain = tuple(node.shape)
    labels = align(lw.view_of(node.inputs[0]), domain[:-1])
    labels = Access(labels.buffer, labels.strides + (ZERO,), labels.offset)
    lw.emit(OneHotKernel(lw.kernel_name(node), provenance(node), domain, labels,
                         align(out, domain), node.dtype))
    return out


def _reference(lw, node):
    """An op without a native kernel: its NumPy reference, over contiguous operands."""
    operands = []
    for i in node.inputs:
        v = lw.view_of(i)
        if not v.is_contiguous() or v.offset != 0:
            v = lw.copy(v, i.dtype, f"operand of {node.op} (run by its reference)")
        operands.append(v)
    out = _result(lw, node)
    lw.emit(ReferenceKernel(lw.kernel_name(node), provenance(node), node, tuple(operands),
                            out.buffer))
    lw.decisions.append(f"{lw.kernels[-1].name}: {node.op} runs its NumPy reference "
                        f"(no native kernel)")
    return out


# ---- contractions -----------------------------------------------------------------------
@lowers("matmul", "einsum", "fused_contraction")
def _contraction(lw, node):
    if node.op == "fused_contraction":
        op, c_attrs = contraction_attrs(node)
        operands, extras, epilogue = node.inputs[:2], node.inputs[2:], node.attrs["epilogue"]
    else:
        op, c_attrs = node.op, node.attrs.as_dict()
        operands, extras, epilogue = node.inputs, (), None
    if op == "einsum" and len(operands) != 2:
        return _reference(lw, node)
    letters = _letters(op, c_attrs, operands)
    if letters is None:
        return _reference(lw, node)
    batch, m, n, k, ta, tb, to = letters
    acc_shape, acc_dtype = get_op(op).infer(tuple(operands), _attrs(c_attrs))
    if tuple(acc_shape) != tuple(node.shape):
        # an epilogue that widens the result: contraction first, then the epilogue
        acc = _contraction_into(lw, node, operands, letters, acc_shape, acc_dtype, None, ())
        body = epilogue
        out = _result(lw, node)
        domain = tuple(node.shape)
        ops = (align(acc, domain),) + tuple(align(lw.view_of(e), domain) for e in extras)
        lw.emit(ElementwiseKernel(lw.kernel_name(node), provenance(node), domain, ops, body,
                                  align(out, domain), _loop(domain)))
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


def _group_view(lw, view: View, term: str, groups, sizes, why: str) -> View:
    """`view` (subscripts `term`) as one axis per group (letters merged), broadcasting the
    letters it lacks; a copy where the merge cannot be a view."""
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
        return View(v.buffer, merged, tuple(
            v.strides[sum(len(h) for h in groups[:i])] if g else ZERO
            for i, g in enumerate(groups)), v.offset)
    out = v.reshape(merged)
    if out is None:
        out = lw.copy(v, lw.buffers[v.buffer].dtype, why).reshape(merged)
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
    va = _group_view(lw, lw.view_of(a), ta, bm + [m, k], sizes, "pack A of a contraction")
    vb = _group_view(lw, lw.view_of(b), tb, bm + [k, n], sizes, "pack B of a contraction")
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
    result = _result(lw, node) if epilogue is not None or tuple(acc_shape) == tuple(node.shape) \
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
                              align(result, domain_out), _loop(domain_out)))
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
