"""The "cuda" backend: lower the optimized graph, print it for the device, run it there.

`CudaFunction(graph, spec)` is what gc.compile(..., backend="cuda") builds: the Program
(graphc/lower, the same one the cpu backend prints), the generated kernels (`.source`), and
per set of dim sizes a `Frame`: the memory plan's workspace in device memory with the
temporaries laid out in it, a device buffer per input and output, and the kernels' launches
with their arguments, all made once and reused by every call with those sizes. A call copies
each input to the device once, launches the kernels in order, and copies the outputs back.
What has no native kernel (an einsum of three operands) runs its NumPy reference on the
host between launches (its operands copied back and its result copied over). A kernel cannot
raise: a gather that checks the indices the graph computed sets a fault flag in device
memory, read after the launches, and an empty axis of an argmax or a maximum is found on the
host from the launch extents. Either makes the call raise the reference's own error.

`resident(carried)` serves gc.train_step: parameters and optimizer state stay in device
memory between steps (two buffers each, read one and write the other, swapped every step),
and come back to the host only when asked for.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ...lower import lower
from ...lower.program import ContractKernel, ReferenceKernel
from ..numba import cache
from ..kernel_info import KernelInfo
from . import target as targets
from .kernels import FAULT
from .module import CudaModule, versions
from .simulator import guard_shared_arrays

FRAMES = 8  # dim-size sets whose device memory a function keeps


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


@dataclass
class Frame:
    """Everything one set of dim sizes needs on the device, made once."""

    inputs: list      # (program input Buffer, device view or None when carried)
    outputs: list     # (device view or None when carried, numel, dtype, shape)
    steps: list       # (kernel, grid, block, args) or a host callable
    names: list       # the kernel of each step


class CudaFunction:
    backend = "cuda"

    def __init__(self, graph, spec, upcast: bool = False):
        if upcast:
            raise ValueError("backend 'cuda' computes in the graph's own dtypes; gc.check_grad "
                             "runs on the reference backend")
        from numba import cuda
        self._cuda = cuda
        self.graph, self.spec = graph, spec
        self.target = targets.current()
        if self.target.simulator:
            guard_shared_arrays()  # the simulator's own race (simulator.py)
        self.program = lower(graph)
        self.module_source = CudaModule(self.program, versions(self.target), self.target)
        self.source = self.module_source.source
        self._load()
        p = self.program
        self._dims = list(p.dims)
        self._consts = {n: self._upload(np.ascontiguousarray(a).reshape(-1))
                        for n, a in p.consts.items()}
        self._memory: OrderedDict = OrderedDict()
        self._frames: OrderedDict = OrderedDict()
        # what a set fault flag means: the kernels that check the indices the graph computed
        self._faults = sorted({ck.fault for ck in self.module_source.kernels.values()
                               if ck.fault})
        self._fault = cuda.to_device(np.zeros(1, np.int32)) if self._faults else None

    def _load(self, retry: bool = True):
        """Import the generated modules (a damaged cache entry is removed and rebuilt)."""
        m = self.module_source
        try:
            self.host = cache.load(m.host_source)
            self._functions = {
                name: [getattr(cache.load(m.kernel_modules[f"graphc_c_{fn}"], f"graphc_c_{fn}"),
                               fn) for fn in functions]
                for name, functions in m.functions.items()}
        except Exception:
            if not retry:
                raise
            cache.purge([*m.kernel_modules, cache.name_of(m.host_source)])
            self._load(retry=False)

    def _upload(self, a: np.ndarray):
        if a.size == 0:
            return self._cuda.device_array(1, a.dtype)
        return self._cuda.to_device(a)

    # ---- calling ------------------------------------------------------------------------
    def run(self, arrays: dict, dims: dict) -> list:
        try:
            return self.call(self._frame(tuple(int(dims[s]) for s in self._dims)), arrays)
        except (ValueError, IndexError):
            # an argmax or maximum over no elements, an index computed in the graph out of
            # range: the reference says which, with the values and shapes, as on "reference"
            from ..reference import evaluate
            evaluate(self.graph.outputs, arrays, dims)
            raise

    def profile(self, arrays: dict, dims: dict, repeat: int = 5) -> dict:
        """Seconds per kernel on the device, the median of `repeat` runs (CUDA events around
        each launch; the inputs copied in once): where a step's time goes. The simulator's
        events carry no times."""
        cuda = self._cuda
        frame = self._frame(tuple(int(dims[s]) for s in self._dims))
        self._copy_in(frame, arrays)
        times: dict = {}
        for _ in range(repeat):
            for name, step in zip(frame.names, frame.steps):
                start, end = cuda.event(), cuda.event()
                start.record()
                _run(step)
                end.record()
                end.synchronize()
                times.setdefault(name, []).append(start.elapsed_time(end) / 1e3)
        return {name: float(np.median(ts)) for name, ts in times.items()}

    @staticmethod
    def _copy_in(frame: Frame, arrays: dict) -> None:
        for buf, dev in frame.inputs:
            if dev is not None:
                dev.copy_to_device(arrays[buf.name[3:]].reshape(-1))

    def _frame(self, d: tuple) -> Frame:
        frame = self._frames.get(d)
        if frame is None:
            frame = self._frames[d] = self.frame(d, {})
            while len(self._frames) > FRAMES:
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(d)
        return frame

    def call(self, frame: Frame, arrays: dict) -> list:
        """Copy the inputs in, launch every kernel, copy the outputs out (fresh arrays)."""
        self._copy_in(frame, arrays)
        for step in frame.steps:
            _run(step)
        if self._fault is not None and self._fault.copy_to_host()[0]:
            self._fault.copy_to_device(np.zeros(1, np.int32))
            raise IndexError(" / ".join(self._faults))
        return [None if dev is None else
                dev.copy_to_host().reshape(shape) if n else np.empty(shape, dtype)
                for dev, n, dtype, shape in frame.outputs]

    # ---- device memory per set of dim sizes ----------------------------------------------
    def memory(self, d: tuple):
        """(the layout's sizes, {buffer name: device array}) for dims `d`: the workspace
        with the temporaries in it, the constants, and a buffer per input and output."""
        got = self._memory.get(d)
        if got is not None:
            self._memory.move_to_end(d)
            return got
        cuda, p = self._cuda, self.program
        sizes = self.host.layout(*d)
        ws_bytes, temps, n_in, n_out, _ = sizes
        ws = cuda.device_array(int(ws_bytes) + 64, np.uint8)
        bufs = dict(self._consts)
        bufs[FAULT] = self._fault
        for (name, buf), (off, nbytes) in zip(self.module_source.temps(), temps):
            item = np.dtype(buf.dtype).itemsize
            bufs[name] = ws[off:off + max(nbytes, item)].view(buf.dtype)
        for b, n in zip(p.inputs, n_in):
            bufs[b.name] = cuda.device_array(max(n, 1), b.dtype)
        for o, n in zip(p.outputs, n_out):
            bufs[o.buffer] = cuda.device_array(max(n, 1), p.buffers[o.buffer].dtype)
        self._memory[d] = (sizes, bufs)
        while len(self._memory) > FRAMES:
            self._memory.popitem(last=False)
        return sizes, bufs

    def frame(self, d: tuple, overrides: dict) -> Frame:
        """The Frame of dims `d`; `overrides` replace some buffers by other device arrays
        (a resident train step's parameters): those are neither copied in nor out."""
        p = self.program
        sizes, own = self.memory(d)
        _, _, n_in, n_out, per_kernel = sizes
        bufs = {**own, **overrides}
        dims = dict(zip(self._dims, d))
        inputs = [(b, None if b.name in overrides or n == 0 else bufs[b.name][:n])
                  for b, n in zip(p.inputs, n_in)]
        outputs = []
        for o, n in zip(p.outputs, n_out):
            dtype = p.buffers[o.buffer].dtype
            shape = tuple(int(x.subs(dims)) if getattr(x, "free_symbols", None) else int(x)
                          for x in o.shape)
            dev = None if o.buffer in overrides else bufs[o.buffer][:max(n, 1)]
            outputs.append((dev, n, dtype, shape))
        steps, names = [], []
        for k, (ints, launch) in zip(p.kernels, per_kernel):
            if isinstance(k, ReferenceKernel):
                steps.append(lambda k=k: self._reference(k, bufs, dims))
                names.append(k.name)
                continue
            ck = self.module_source.kernels[k.name]
            config = self._configure(ck, launch)
            if config is None:
                continue
            variant, grid, block = config
            args = tuple(bufs[a] for a in ck.arrays) + tuple(int(i) for i in ints)
            steps.append((self._functions[k.name][variant], grid, block, args))
            names.append(k.name)
        return Frame(inputs, outputs, steps, names)

    def _configure(self, ck, launch):
        """(variant, grid, block) of one kernel for its launch extents; None: no work."""
        t = self.target
        if ck.shape == "flat":
            (n,) = launch
            if n == 0:
                return None
            return 0, min(-(-n // t.threads), t.max_blocks), t.threads
        if ck.shape == "rows":
            n_out, n_red = launch
            if n_red == 0 and ck.empty_error:
                raise ValueError(ck.empty_error)
            if n_out == 0:
                return None
            tx, ty_max = ck.block
            ty = min(ty_max, _pow2_at_least(n_red))
            if ck.shuffles:
                ty = max(ty, 32)  # a whole warp per row: the shuffles need it
            return 0, min(-(-n_out // tx), t.max_blocks), (tx, ty)
        batch, m, n = launch
        if batch * m * n == 0:
            return None
        for v, tiles in enumerate(ck.variants):
            count = batch * -(-m // tiles.bm) * -(-n // tiles.bn)
            if count >= t.sms or v == len(ck.variants) - 1:
                cap = t.max_blocks if t.simulator else 2 ** 31 - 1
                return v, min(count, cap), tiles.threads
        raise AssertionError("unreachable")

    def _reference(self, k: ReferenceKernel, bufs, dims):
        from ...ir.op import get_op
        values = []
        for v in k.operands:
            shape = tuple(int(x.subs(dims)) if getattr(x, "free_symbols", None) else int(x)
                          for x in v.shape)
            n = int(np.prod(shape, dtype=np.int64))
            host = bufs[v.buffer][:n].copy_to_host() if n else np.empty(0, bufs[v.buffer].dtype)
            values.append(host.reshape(shape))
        value = np.asarray(get_op(k.node.op).reference(values, k.node, dims))
        target = bufs[k.out]
        flat = np.ascontiguousarray(value.astype(target.dtype, copy=False).reshape(-1))
        if flat.size:
            target[:flat.size].copy_to_device(flat)

    # ---- gc.train_step: state kept on the device --------------------------------------------
    def resident(self, carried: dict):
        """A `Resident` running this function with the inputs named in `carried` kept in
        device memory, each replaced after every call by the output whose index `carried`
        gives; None where that cannot be (a carried value with a symbolic shape)."""
        from .resident import Resident
        return Resident.make(self, carried)

    # ---- inspection -----------------------------------------------------------------------
    @property
    def kernels(self) -> list:
        out = []
        for k in self.program.kernels:
            ck = self.module_source.kernels.get(k.name)
            schedule = (f"{k.schedule}; on the GPU: " + ", ".join(map(str, ck.variants))
                        if isinstance(k, ContractKernel) else
                        f"block {ck.block[0]}x{ck.block[1]}" if ck and ck.block else
                        "grid-stride" if ck else "")
            runs = "NumPy reference (host)" if ck is None else "generated (cuda)"
            out.append(KernelInfo(k.name, type(k).__name__, k.provenance,
                                  " | ".join(self.module_source.functions.get(k.name, ["-"])),
                                  schedule, None, runs, tuple(ck.notes) if ck else ()))
        return out


def _run(step) -> None:
    if callable(step):
        step()  # an op's NumPy reference, on the host
    else:
        kernel, grid, block, args = step
        kernel[grid, block](*args)


def factory(graph, spec, upcast=False, donate=None, **unknown):
    """`donate` is taken and left unused: outputs come back as fresh host arrays, and a
    train step's parameters stay on the device instead (`CudaFunction.resident`)."""
    if unknown:
        raise TypeError(f"compile: unknown option(s) {', '.join(map(repr, unknown))} for "
                        f"backend 'cuda'")
    return CudaFunction(graph, spec, upcast=upcast)
