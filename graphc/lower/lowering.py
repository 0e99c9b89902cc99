"""graph -> Program: each node of the optimized graph becomes a view or a kernel.

Walking the graph inputs-first: inputs and constants are buffers; layout ops become views of
what they read (a copy kernel where no view can express them, a decision recorded for
gc.explain); every other node becomes kernels writing a new flat buffer. The outputs are
whole buffers handed to the caller (copied where an output is a view, or an input).

Dispatch is one table, `LOWER`, from op name to a rule `rule(lowering, node) -> View`, put
together here from the rule modules in the order data flows through a model: rules.py
(sources, layout views, elementwise, reductions, argmax, softmax, one_hot), boxes.py
(slices, windows, pads, concat, col2im: views and copy kernels), gathers.py (take,
take_along_axis, their scatter-add adjoints, arange, random_uniform), contraction.py (matmul,
einsum and their fused epilogues). Every op of the op table has a rule (inputs are the
walk's own buffers); what a rule cannot lower (an einsum of three operands) runs its NumPy
reference from native code (ReferenceKernel), so every graph runs everywhere.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, topo_order
from . import boxes, contraction, gathers, rules
from .plan import plan_memory
from .program import (Buffer, ContractKernel, ElementwiseKernel, Loop, Program,
                      ReferenceKernel, identity, provenance)
from .views import ZERO, Access, View, align

# op name -> rule(lowering, node) -> View of the node's value
LOWER = {**rules.RULES, **boxes.RULES, **gathers.RULES, **contraction.RULES}


def lower(graph: Graph, donate: dict | None = None) -> Program:
    """The Program of an optimized graph (see graphc/lower/program.py). `donate` maps an
    output's index to the name of an input whose array it may be written into (a training
    step's new parameters into the parameters): where the kernel computing it is the last to
    read that input and reads it element for element, it writes there directly; else a copy
    at the end does."""
    return _Lowering(graph, donate or {}).run()


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

    def write(self, dest: View, operands, body, names: tuple, why: str | None = None) -> None:
        """One elementwise kernel over `dest`'s shape: dest[i] = body(operands[i]) (views;
        `dest` may be a box of a buffer, and may be read by the body: an accumulation)."""
        domain = tuple(dest.shape)
        name = self.kernel_name(names)
        operands = tuple(align(v, domain) for v in operands)
        self.emit(ElementwiseKernel(name, names, domain, operands, body, align(dest, domain),
                                    Loop.over(domain)))
        if why:
            self.decisions.append(f"{name}: {why}")

    def copy(self, view: View, dtype: str, why: str, role: str = "temp") -> View:
        """`view`'s elements written to a new contiguous buffer, by a copy kernel."""
        out = View.whole(self.buffer("buf", view.shape, dtype, role).name, view.shape)
        self.write(out, (view,), identity(dtype), ("copy",), f"copy ({why})")
        return out

    def zeros(self, shape, dtype: str) -> View:
        """A view of `shape` reading one constant 0 of `dtype` (stride 0 everywhere)."""
        name = f"zero_{dtype}"
        if name not in self.buffers:
            self.buffers[name] = Buffer(name, (), dtype, "const")
            self.consts[name] = np.zeros(1, dtype)
        return View(name, tuple(shape), (ZERO,) * len(shape))

    def result(self, node) -> View:
        """A new buffer for the node's value, whole."""
        return View.whole(self.buffer("buf", node.shape, node.dtype).name, node.shape)

    def reference(self, node) -> View:
        """An op without a native kernel: its NumPy reference, over contiguous operands."""
        operands = []
        for i in node.inputs:
            v = self.view_of(i)
            if not v.is_contiguous() or v.offset != 0:
                v = self.copy(v, i.dtype, f"operand of {node.op} (run by its reference)")
            operands.append(v)
        out = self.result(node)
        self.emit(ReferenceKernel(self.kernel_name(node), provenance(node), node,
                                  tuple(operands), out.buffer))
        self.decisions.append(f"{self.kernels[-1].name}: {node.op} runs its NumPy reference "
                              f"(no native kernel)")
        return out

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
            rule = LOWER.get(node.op)
            self.views[id(node)] = rule(self, node) if rule else self.reference(node)
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
        writers = [j for j, k in enumerate(self.kernels) if out.buffer in k.writes()]
        writer = writers[0]
        later = any(target in k.reads() for k in self.kernels[writer + 1:])
        kernel = self.kernels[writer]
        if not later and len(writers) == 1 and _reads_in_place(kernel, target):
            # the kernel writes the input's array, and what read its result reads it there
            self.kernels[writer:] = [_renamed(k, out.buffer, target)
                                     for k in self.kernels[writer:]]
            del self.buffers[out.buffer]
            return View.whole(target, tbuf.shape)
        self.write(View.whole(target, tbuf.shape), (out,), identity(obuf.dtype), ("copy",),
                   f"copy into input {target[3:]} (its old values are read after the update "
                   f"is computed)")
        self.buffers[out.buffer] = Buffer(obuf.name, obuf.shape, obuf.dtype, "temp")
        return View.whole(target, tbuf.shape)


def _accesses(kernel) -> list:
    """Every Access a kernel reads with, and the one it writes with."""
    reads = list(getattr(kernel, "operands", ())) + list(getattr(kernel, "extras", ()))
    for name in ("a", "b", "labels", "operand", "index", "data", "seed"):
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
