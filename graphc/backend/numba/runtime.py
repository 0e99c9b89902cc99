"""The "cpu" backend: lower the optimized graph, print it, compile it with Numba, run it.

`CpuFunction(graph, spec)` is what gc.compile(..., backend="cpu") builds: the Program
(graphc/lower), the generated module (its source is `.source`), and per set of dim sizes a
workspace the memory plan lays the temporaries in, allocated once and reused. Each call
passes the checked inputs, the constants, fresh output arrays and the workspace to the
driver: one native call runs every kernel.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ...lower import lower
from ...lower.program import ContractKernel, ReferenceKernel
from . import cache
from .driver import Module, versions

WORKSPACES = 8  # dim-size sets whose workspaces a function keeps


@dataclass(frozen=True)
class KernelInfo:
    """One kernel of a compiled function, for f.kernels and `graphc kernels`."""

    name: str
    kind: str
    provenance: tuple
    function: str
    schedule: str
    flops: object
    runs: str          # "generated", "BLAS or generated", "NumPy reference"
    notes: tuple

    def __str__(self):
        return (f"{self.name:28s} {self.kind:18s} {'+'.join(self.provenance):34s} "
                f"{self.runs:20s} {self.schedule}")


class CpuFunction:
    backend = "cpu"

    def __init__(self, graph, spec, upcast: bool = False):
        if upcast:
            raise ValueError("backend 'cpu' computes in the graph's own dtypes; gc.check_grad "
                             "runs on the reference backend")
        self.graph, self.spec = graph, spec
        self.program = lower(graph)
        self.module_source = Module(self.program, versions())
        self.source = self.module_source.source
        p = self.program
        self._consts = [p.consts[n] for n in p.consts]
        self._dims = list(p.dims)
        self._outputs = [(p.buffers[o.buffer].dtype, tuple(o.shape)) for o in p.outputs]
        self._workspaces: OrderedDict = OrderedDict()
        self.blas = np.ones(len(self.module_source.blas_kernels), np.int64)
        self._load()

    def _load(self, retry: bool = True):
        """Import the generated modules and have Numba compile (or load from its cache) every
        driver for the types it will be called with, now rather than at the first call. A
        damaged cache entry is removed and rebuilt, never a crash."""
        try:
            for name, src in self.module_source.kernel_modules.items():
                cache.load(src, name)  # the driver imports them by name
            self.module = cache.load(self.module_source.driver_source)
            self._segments = self._prepare_segments()
            signature = self._signature()
            for kind, run in self._segments:
                if kind == "native" and hasattr(run, "compile"):  # not under NUMBA_DISABLE_JIT
                    run.compile(signature)
        except Exception:
            if not retry:
                raise
            cache.purge([*self.module_source.kernel_modules,
                         cache.name_of(self.module_source.driver_source)])
            self._load(retry=False)

    def _signature(self) -> tuple:
        import numba
        p = self.program
        arrays = [np.empty((0,) * len(b.shape), b.dtype) for b in p.inputs] + \
            self._consts + [np.empty(0, dtype) for dtype, _ in self._outputs] + \
            [np.empty(0, np.uint8), self.blas]
        return tuple(numba.typeof(a) for a in arrays) + (numba.types.int64,) * len(self._dims)

    # ---- calling ------------------------------------------------------------------------
    def fast_call(self, kwargs: dict):
        """The outputs for arrays given by name exactly as the program wants them, else None
        (gc.compile's checked path then converts or explains)."""
        call = getattr(self.module, "call", None)
        if call is None:
            return None
        try:
            return call(kwargs, self._consts, self.blas, self._workspace)
        except ValueError:
            return None  # a check inside a kernel (a label out of range): the slow path says

    def run(self, arrays: dict, dims: dict) -> list:
        d = tuple(int(dims[s]) for s in self._dims)
        ws = self._workspace(d)
        sizes = self.module.output_sizes(*d)
        outs = [np.empty(n, dtype) for (dtype, _), n in zip(self._outputs, sizes)]
        inputs = [_writeable(arrays[b.name[3:]]) for b in self.program.inputs]
        for kind, payload in self._segments:
            if kind == "native":
                payload(*inputs, *self._consts, *outs, ws, self.blas, *d)
            else:
                self._reference(payload, inputs, outs, ws, dims)
        return [o.reshape(_shape(shape, dims)) for o, (_, shape) in zip(outs, self._outputs)]

    def profile(self, arrays: dict, dims: dict, repeat: int = 5) -> dict:
        """Seconds per kernel (the median of `repeat` runs), each kernel called from Python:
        where a step's time goes."""
        d = tuple(int(dims[s]) for s in self._dims)
        ws = self._workspace(d)
        outs = [np.empty(n, dt) for (dt, _), n in zip(self._outputs,
                                                      self.module.output_sizes(*d))]
        inputs = [_writeable(arrays[b.name[3:]]) for b in self.program.inputs]
        times: dict = {}
        for _ in range(repeat):
            for j, (kind, _payload) in enumerate(self._segments):
                if kind != "native":
                    continue
                getattr(self.module, f"profile{j}")(
                    lambda name, t: times.setdefault(name, []).append(t),
                    *inputs, *self._consts, *outs, ws, self.blas, *d)
        return {name: float(np.median(ts)) for name, ts in times.items()}

    def _workspace(self, d: tuple) -> np.ndarray:
        ws = self._workspaces.get(d)
        if ws is None:
            nbytes = int(self.module.workspace_bytes(*d))
            ws = _aligned_empty(max(nbytes, 1))
            self._workspaces[d] = ws
            while len(self._workspaces) > WORKSPACES:
                self._workspaces.popitem(last=False)
        else:
            self._workspaces.move_to_end(d)
        return ws

    # ---- ops without a native kernel: their NumPy reference between native segments -----
    def _prepare_segments(self):
        out = []
        for j, (kind, payload) in enumerate(self.module_source.segments):
            out.append((kind, getattr(self.module, f"run{j}") if kind == "native" else payload))
        return out

    def _reference(self, k: ReferenceKernel, inputs, outs, ws, dims):
        from ...ir.op import get_op
        arrays = self._buffers(inputs, outs, ws, dims)
        values = [arrays[v.buffer][:int(np.prod(_shape(v.shape, dims), dtype=np.int64))]
                  .reshape(_shape(v.shape, dims)) for v in k.operands]
        value = np.asarray(get_op(k.node.op).reference(values, k.node, dims))
        target = arrays[k.out]
        target[:value.size] = value.astype(target.dtype, copy=False).reshape(-1)

    def _buffers(self, inputs, outs, ws, dims) -> dict:
        p = self.program
        found = {b.name: a.reshape(-1) for b, a in zip(p.inputs, inputs)}
        found.update(dict(zip(p.consts, self._consts)))
        found.update({o.buffer: a for o, a in zip(p.outputs, outs)})
        for name, slot in p.plan.slot_of.items():
            buf = p.buffers[name]
            off = int(p.plan.offsets[slot].subs(dims)) if p.plan.offsets[slot].free_symbols \
                else int(p.plan.offsets[slot])
            n = int(buf.nbytes.subs(dims)) if buf.nbytes.free_symbols else int(buf.nbytes)
            found[name] = ws[off:off + n].view(buf.dtype)
        return found

    # ---- inspection -----------------------------------------------------------------------
    @property
    def kernels(self) -> list:
        from ...cost import node_cost  # noqa: F401  (flops come from the graph's nodes)
        out = []
        for k in self.program.kernels:
            ks = self.module_source.kernel_sources.get(k.name)
            schedule = str(k.schedule) if isinstance(k, ContractKernel) else \
                (f"parallel axis {k.loop.parallel_axis}" if hasattr(k, "loop") else "")
            runs = ("NumPy reference" if ks is None else
                    "BLAS or generated" if getattr(ks, "blas", False) else "generated")
            out.append(KernelInfo(k.name, type(k).__name__, k.provenance,
                                  self.module_source.function_of.get(k.name, "-"), schedule,
                                  None, runs, tuple(ks.notes) if ks else ()))
        return out


def _writeable(a: np.ndarray) -> np.ndarray:
    """A read-only array (np.broadcast_to's) would need a second compiled signature: the
    kernels never write inputs, but Numba types them apart."""
    return a if a.flags.writeable else a.copy()


def _shape(shape, dims) -> tuple:
    return tuple(int(d.subs(dims)) if getattr(d, "free_symbols", None) else int(d)
                 for d in shape)


def _aligned_empty(nbytes: int, align: int = 64) -> np.ndarray:
    raw = np.empty(nbytes + align, np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes]


def factory(graph, spec, upcast=False, **unknown):
    if unknown:
        raise TypeError(f"compile: unknown option(s) {', '.join(map(repr, unknown))} for "
                        f"backend 'cpu'")
    return CpuFunction(graph, spec, upcast=upcast)
