"""The "cpu" backend: lower the optimized graph, print it, compile it with Numba, run it.

`CpuFunction(graph, spec)` is what gc.compile(..., backend="cpu") builds: the Program
(graphc/lower), the generated module (its source is `.source`), and per set of dim sizes a
workspace the memory plan lays the temporaries in, allocated once and reused. Each call
passes the checked inputs, the constants, fresh output arrays and the workspace to the
driver: one native call runs every kernel.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from contextlib import nullcontext

import numpy as np
import sympy

from ...collector import collecting
from ...errors import InputError
from ...lower import lower
from ...lower.program import ContractKernel, ReferenceKernel
from ..kernel_info import KernelInfo
from ..blas import SERIAL_BELOW_FLOPS, BlasThreads
from ..load import BUDGET
from . import blas as numba_blas
from . import cache, gemm, jobs, warm
from .contract import BLOCKS_FROM_FLOPS
from .kernels import PARALLEL_FROM
from .modes import (BLAS, BLOCKS, ITEMS, MODE_NAMES, PARALLEL, PART_OF_MODE, SERIAL, choose,
                    loop_threads)
from .build import compiled_driver, no_float16, versions
from .driver import Module

MATMUL = ("auto", "blas", "generated", "parallel", "blocks")  # gc.compile(..., matmul=...)
# below this many FLOPs (2048 multiply-adds) a product runs generated without measuring: either
# way takes about a microsecond. Above it, measure: at 64x10x128 (2^17 FLOPs) OpenBLAS took 6 us
# and the packed generated product 17 us here, so no size guess stands in for a measurement.
MEASURE_FROM_FLOPS = 2 ** 12

WORKSPACES = 8  # dim-size sets whose workspaces a function keeps
COMPILING_POLL_S = 0.25  # how often a call looks whether the deferred matmul modules are done


class CpuFunction:
    backend = "cpu"

    def __init__(self, graph, spec, upcast: bool = False, donate: dict | None = None,
                 matmul: str = "auto"):
        if matmul not in MATMUL:
            raise ValueError(f"compile: matmul must be one of {', '.join(map(repr, MATMUL))}, "
                             f"got {matmul!r}")
        self.matmul = matmul
        if upcast:
            raise ValueError("backend 'cpu' computes in the graph's own dtypes; gc.check_grad "
                             "runs on the reference backend")
        no_float16(graph)
        self.graph, self.spec = graph, spec
        self.program = lower(graph, donate)
        self.module_source = Module(self.program, versions(),
                                    parallel_product=True if matmul == "parallel" else None)
        self.source = self.module_source.source
        p = self.program
        self._consts = [p.consts[n] for n in p.consts]
        self._dims = list(p.dims)
        self._outputs = [(p.buffers[o.buffer].dtype, tuple(o.shape)) for o in p.outputs]
        # per output: None for a fresh array, else the input whose array it is written into
        self._donated = [o.buffer[3:] if p.buffers[o.buffer].role == "input" else None
                         for o in p.outputs]
        self._fresh = [out for out, d in zip(self._outputs, self._donated) if d is None]
        self._workspaces: OrderedDict = OrderedDict()
        self._prepared: dict = {}
        self._sizes: dict = {}  # (shape or workspace layout, dim sizes) -> ints, worked out once
        ms = self.module_source
        self.threads = BlasThreads(
            graph, numba_pool=any(ks.split_loop for ks in
                                  ms.kernel_sources.values()),
            calls_blas=matmul not in ("generated", "parallel") and
            any(ms.kernel_sources[n].blas for n in ms.contractions))
        self.choices: dict = {}  # dim sizes -> {contraction kernel: (mode, why)}
        # dim sizes -> when to choose again (a busy measurement, a matmul module compiling)
        self._remeasure: dict = {}
        self._load()

    def _load(self, retry: bool = True):
        """Import the generated modules and have Numba compile (or load from its cache) every
        driver for the types it will be called with, now rather than at the first call. A
        damaged cache entry is removed and rebuilt, never a crash."""
        ms = self.module_source
        names = [*ms.kernel_modules, cache.name_of(ms.driver_source),
                 *(gemm.module_name(t, part) for t, part in ms.gemm_modules)]
        compiled = cache.compiled(names)
        # Numba's compiling makes garbage: the collector runs then (graphc/collector.py)
        with collecting() if compiled != set(names) else nullcontext():
            self._load_modules(names, retry, compiled)

    def _load_modules(self, names: list, retry: bool, compiled: set = frozenset()) -> None:
        ms = self.module_source
        try:
            self._later = frozenset()  # matmul modules a helper compiles meanwhile
            if retry:  # a helper process compiles part of it, where it pays
                self._later = jobs.compile_in_two(
                    ms, ms.deferrable() if self.matmul in ("auto", "blas") else frozenset())
            if self._later:
                jobs.settle_at_exit(self)
            # a matmul module in the cache is loaded when a call first runs it (_modes): the
            # big MLP's step runs BLAS in blocks only, and loading the generated matmul it
            # does not run took 10 ms of a warm first step's 0.32 s; one not in the cache
            # compiles now, with the rest
            self._unloaded = frozenset(
                m for m in ms.gemm_modules - self._later if gemm.module_name(*m) in compiled)
            with gemm.slp_vectorizer(), warm.loading():
                for dtype, part in sorted(ms.gemm_modules - self._later - self._unloaded):
                    gemm.load(dtype, part)  # which fills the cells the kernels call through
                for name, src in ms.kernel_modules.items():
                    cache.load(src, name)  # registers its entry point, which the driver calls
                self.module = cache.load(ms.driver_source)
                self._segments = self._prepare_segments()
        except Exception:
            if not retry:
                raise
            cache.purge(names)
            with collecting():
                self._load_modules(names, retry=False)

    # ---- calling ------------------------------------------------------------------------
    def fast_call(self, kwargs: dict):
        """The outputs for arrays given by name exactly as the program wants them, else None
        (gc.compile's checked path then converts or explains)."""
        call = getattr(self.module, "call", None)
        if call is None:
            return None
        prepare = self._prepare
        if self.spec.checks:  # index ranges, symbolic slice bounds: checked once dims are known
            def prepare(d):
                dims = dict(zip(self._dims, d))
                for check in self.spec.checks:
                    check(kwargs, dims, {})
                return self._prepare(d)
        try:
            return call(kwargs, self._consts, prepare)
        except (ValueError, IndexError, InputError):
            return None  # a label or index out of range: the checked path says which, where

    def run(self, arrays: dict, dims: dict) -> list:
        d = tuple(int(dims[s]) for s in self._dims)
        ws, threads, modes = self._prepare(d)
        sizes = self.module.output_sizes(*d)
        outs = [np.empty(n, dtype) for (dtype, _), n in zip(self._fresh, sizes)]
        inputs = [_writeable(arrays[b.name[3:]]) for b in self.program.inputs]
        try:
            with threads:  # BLAS threads for calls of these sizes, as the fast path has them
                for kind, payload in self._segments:
                    if kind == "native":
                        payload(_ids(inputs, self._consts, outs), ws, modes, *d)
                    else:
                        self._reference(payload, inputs, outs, ws, dims)
        except ValueError:
            # a kernel's check failed (a label out of range, a maximum or argmax over no
            # elements, an index computed in the graph out of range): the reference says
            # which, with the values and shapes, as on backend "reference"
            from ..reference import evaluate
            evaluate(self.graph.outputs, arrays, dims)
            raise
        fresh = iter(outs)
        by_name = dict(zip((b.name[3:] for b in self.program.inputs), inputs))
        results = []
        for donated, (_, shape) in zip(self._donated, self._outputs):
            a = next(fresh) if donated is None else by_name[donated]
            shape = self._concrete(shape, d, dims)
            results.append(a if a.shape == shape else a.reshape(shape))  # in place: itself
        return results

    def _concrete(self, key, d: tuple, dims) -> tuple:
        """A shape's sizes (or, for key "temps", each temporary's (offset, bytes, dtype) in the
        workspace) for dim sizes `d`: sympy works them out once per `d`, not per call."""
        hit = self._sizes.get((key, d))
        if hit is None:
            if len(self._sizes) > 4096:
                self._sizes.clear()
            hit = self._sizes[(key, d)] = self._temps(dims) if key == "temps" else \
                _shape(key, dims)
        return hit

    def _temps(self, dims) -> dict:
        p = self.program
        return {name: (int(sympy.sympify(p.plan.offsets[slot]).subs(dims)),
                       int(sympy.sympify(p.buffers[name].nbytes).subs(dims)),
                       p.buffers[name].dtype)
                for name, slot in p.plan.slot_of.items()}

    def profile(self, arrays: dict, dims: dict, repeat: int = 5) -> dict:
        """Seconds per kernel (the median of `repeat` steps): where a step's time goes, read
        on a clock in the compiled driver around each kernel as the step runs them
        (graphc/backend/numba/clock.py)."""
        d = tuple(int(dims[str(s)] if str(s) in dims else dims[s]) for s in self._dims)
        ws, threads, modes = self._prepare(d)
        outs = [np.empty(n, dt) for (dt, _), n in zip(self._fresh,
                                                      self.module.output_sizes(*d))]
        inputs = [_writeable(arrays[b.name[3:]]) for b in self.program.inputs]
        times: dict = {}
        with threads:  # BLAS's and Numba's threads as a call has them (two pools fight)
            for _ in range(repeat):
                for j, (kind, kernels) in enumerate(self.module_source.segments):
                    if kind != "native":
                        continue
                    ns = np.zeros(len(kernels) + 1, np.int64)
                    getattr(self.module, f"profile{j}")(ns, _ids(inputs, self._consts, outs),
                                                        ws, modes, *d)
                    for k, start, end in zip(kernels, ns[:-1], ns[1:]):
                        times.setdefault(k.name, []).append((int(end) - int(start)) * 1e-9)
        return {name: float(np.median(ts)) for name, ts in times.items()}

    def _prepare(self, d: tuple):
        """(workspace, BLAS-thread context, contraction modes) for calls with dim sizes `d`."""
        if self._remeasure and time.monotonic() >= self._remeasure.get(d, math.inf):
            del self._remeasure[d]  # measured on a busy machine, or made while a matmul
            # module compiled (_compiling): choose again
            self._prepared.pop(d, None)
        hit = self._prepared.get(d)
        if hit is None:
            dims = dict(zip(self._dims, d))
            jobs.load(dict(self.module_source.parallel_for(dims)))  # kernels.py: render
            modes, pool = self._modes(d, dims)
            hit = (self._workspace(d), self.threads.limit(dims, serial_blas=pool), modes)
            self._prepared[d] = hit
            while len(self._prepared) > WORKSPACES:
                self._prepared.pop(next(iter(self._prepared)))
        return hit

    def _modes(self, d: tuple, dims: dict) -> tuple[np.ndarray, bool]:
        """(how each contraction runs at these sizes, whether the step runs on Numba's pool
        with BLAS on one thread): the way `choose` (modes.py) measured fastest for its
        shape, or what the `matmul` option says.

        Threads: a step runs one thread pool, never two, because OpenBLAS's threads spin for
        a while after each call and starve Numba's workers of the cores (and the other way
        round): on two cores that turned milliseconds into scheduler ticks. Where a
        contraction can run BLAS in blocks on Numba's threads (mode 3), the step runs on
        Numba's pool: BLAS on one thread in every call, the blocks and parallel loops on all
        (the big MLP step: median 3.85 to 3.73 ms; not with MKL where BLAS would get all
        threads: its own took that step to 3.05-3.1 ms, blocks to 3.22), from
        BLOCKS_FROM_FLOPS at the call's sizes: below, a product measured alone hides what a
        step pays for the pool (a 64x128x64 product measured 4% faster in blocks, and the
        small MLP's step went from 44 to 62 us). Otherwise, and where no block is chosen,
        BLAS gets its threads by the size of the call (graphc/backend/blas.py), and
        the generated product on all threads runs only in a function that calls no BLAS.
        A batched product with no dense layout splits its items across Numba's threads
        (mode 4) from PARALLEL_FROM result elements, unmeasured, as elementwise kernels do."""
        from numba import config
        ms, modes, why = self.module_source, [], {}
        later = self._compiling()
        if later:
            self._remeasure[d] = min(self._remeasure.get(d, math.inf),
                                     time.monotonic() + COMPILING_POLL_S)
        threads = loop_threads() if not config.DISABLE_JIT else 1
        blas_threads = self.threads.threads(dims)
        no_blas = not any(ms.kernel_sources[n].blas for n in ms.contractions)
        forced = {"blas": BLAS, "generated": SERIAL, "parallel": PARALLEL,
                  "blocks": BLOCKS}.get(self.matmul)
        # where BLAS would get all threads, MKL splits a product better than blocks (mkl.py)
        own_threads = numba_blas.PROVIDER == "MKL" and blas_threads is None and \
            self.threads.largest_flops(dims) >= SERIAL_BELOW_FLOPS
        pool = threads > 1 and (self.matmul == "blocks" or self.matmul == "auto" and
                                not own_threads) and \
            any(ms.kernel_sources[n].blocks for n in ms.contractions) and \
            not any(part == "blocks" for _, part in later)
        if pool:
            blas_threads = 1
        for name in ms.contractions:
            k, ks = self._kernel(name), ms.kernel_sources[name]
            sizes = [int(e.subs(dims)) if getattr(e, "free_symbols", None) else int(e)
                     for e in k.domain]
            m, n, kk = sizes[-3:]
            flops = 2 * m * n * kk
            ways = [SERIAL] + ([BLAS] if ks.blas else []) + \
                ([PARALLEL] if ks.parallel and threads > 1 and no_blas and
                 flops >= SERIAL_BELOW_FLOPS else []) + \
                ([BLOCKS] if ks.blocks and pool and flops >= BLOCKS_FROM_FLOPS else [])
            if forced is not None:  # BLAS needs no matmul module, and with any other
                # way asked for, none waits (_load)
                can = forced in ways or (forced == PARALLEL and ks.parallel) or \
                    (forced == BLOCKS and ks.blocks)
                mode = forced if can else SERIAL
                reason = f"matmul={self.matmul!r}" + ("" if can else " cannot here")
            elif later and ks.blas and later & set(ks.gemm):
                mode, reason = BLAS, "until the generated matmul, compiling meanwhile, is loaded"
            elif ks.items and threads > 1 and math.prod(sizes[:-1]) >= PARALLEL_FROM:
                mode, reason = ITEMS, f"{math.prod(sizes[:-3])} items of {m}x{n}"
            elif config.DISABLE_JIT:
                mode, reason = (BLAS if ks.blas else SERIAL), "NUMBA_DISABLE_JIT"
            elif flops < MEASURE_FROM_FLOPS:
                mode, reason = SERIAL, f"{flops} FLOPs: a BLAS call costs more"
            else:
                s = k.schedule
                mode, reason, again = choose(k.acc_dtype, m, n, kk,
                                             (s.tile_m, s.tile_n, s.tile_k), tuple(ways),
                                             threads, blas_threads)
                if again is not None:  # measured on a busy machine: again, later
                    self._remeasure[d] = min(self._remeasure.get(d, again), again)
            modes.append(mode)
            blas = f"{numba_blas.PROVIDER}; " if mode in (BLAS, BLOCKS) else ""
            why[name] = (mode, f"{MODE_NAMES[mode]} at {m}x{n}x{kk} ({blas}{reason})")
        self._load_matmul(ms.contractions, modes)
        self.choices[d] = why
        # no block chosen (small products): BLAS's threads as before, and no thread limits
        # to set around a call that OpenBLAS runs on one thread anyway (7 us of a 44 us step)
        # while a helper compiles (`later`), BLAS on one thread: on two threads it fought the
        # helper for the cores, and its threads, spinning after each call, spoiled the
        # measurements made once the modules were in (blocks measured 1.4-2.3 ms, not 0.8)
        return np.array(modes, np.int64), (pool and BLOCKS in modes) or ITEMS in modes or \
            bool(later)

    def _compiling(self) -> frozenset:
        """The shared matmul modules a helper is still compiling (jobs.compile_in_two),
        loaded here once it is done; until then the contractions that call them run BLAS,
        and their choice is made again at a call COMPILING_POLL_S later."""
        if not self._later or jobs.compiling(self._later):
            return self._later
        BUDGET.forget()  # the helper has exited: the cores are free for the measurements
        for dtype, part in sorted(self._later):
            gemm.loaded(dtype, part)  # from the cache (compiled here if the helper failed)
        self._later = frozenset()
        return self._later

    def _load_matmul(self, contractions, modes) -> None:
        """Load the shared matmul modules that contractions run in `modes` call, if not yet."""
        want = {(t, p) for name, mode in zip(contractions, modes)
                for t, p in self.module_source.kernel_sources[name].gemm
                if p == PART_OF_MODE.get(mode)} & self._unloaded
        for dtype, part in sorted(want):
            gemm.loaded(dtype, part)
        self._unloaded -= want

    def settle(self) -> None:
        """At exit, the helpers done (jobs.settle_at_exit): where this function still ran BLAS
        while they compiled, choose again for each set of sizes it ran, measuring now (what a
        call after the helper's end does); the choices are kept for the next process."""
        if not self._later:
            return  # chosen again, and measured, by a call since
        for d in list(self._prepared):
            del self._prepared[d]
            self._prepare(d)

    def _kernel(self, name: str):
        return next(k for k in self.program.kernels if k.name == name)

    def _workspace(self, d: tuple) -> np.ndarray:
        ws = self._workspaces.get(d)
        if ws is None:
            nbytes = int(self.module.workspace_bytes(*d))
            # whole 64-byte lines: a kernel views its buffer from its offset to the end, and
            # a view of any dtype needs a length that is a multiple of its item size
            ws = _aligned_empty(max(64, -(-nbytes // 64) * 64))
            self._workspaces[d] = ws
            while len(self._workspaces) > WORKSPACES:
                self._workspaces.popitem(last=False)
        else:
            self._workspaces.move_to_end(d)
        return ws

    # ---- ops without a native kernel: their NumPy reference between native segments -----
    def _prepare_segments(self):
        out = [(kind, compiled_driver(getattr(self.module, f"run{j}"), len(self._dims))
                if kind == "native" else payload)
               for j, (kind, payload) in enumerate(self.module_source.segments)]
        if out and out[0][0] == "native":
            self.module.entry0 = out[0][1]  # what the fast path (`call`) runs
        return out

    def _reference(self, k: ReferenceKernel, inputs, outs, ws, dims):
        from ...ir.op import get_op
        d = tuple(int(dims[s]) for s in self._dims)
        arrays = self._buffers(inputs, outs, ws, dims, d)
        shapes = [self._concrete(tuple(v.shape), d, dims) for v in k.operands]
        values = [arrays[v.buffer][:int(np.prod(shape, dtype=np.int64))].reshape(shape)
                  for v, shape in zip(k.operands, shapes)]
        value = np.asarray(get_op(k.node.op).reference(values, k.node, dims))
        target = arrays[k.out]
        target[:value.size] = value.astype(target.dtype, copy=False).reshape(-1)

    def _buffers(self, inputs, outs, ws, dims, d: tuple) -> dict:
        p = self.program
        found = {b.name: a.reshape(-1) for b, a in zip(p.inputs, inputs)}
        found.update(dict(zip(p.consts, self._consts)))
        found.update({o.buffer: a for o, a in zip([o for o in p.outputs
                                                   if p.buffers[o.buffer].role == "output"],
                                                  outs)})
        for name, (off, n, dtype) in self._concrete("temps", d, dims).items():
            found[name] = ws[off:off + n].view(dtype)
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
            chosen = [c[k.name][1] for c in self.choices.values() if k.name in c]
            if chosen:
                runs = "; ".join(dict.fromkeys(chosen))
            out.append(KernelInfo(k.name, type(k).__name__, k.provenance,
                                  self.module_source.function_of.get(k.name, "-"), schedule,
                                  None, runs, tuple(ks.notes) if ks else ()))
        return out


def _ids(inputs, consts, outs) -> np.ndarray:
    """The driver's `arrays`: the ids of the array objects it reads (driver.py). Each is
    C-ordered in the program's dtype (the binding made them so; the order is checked here, as
    the driver reads their memory as one run of elements, its length from the dims). The
    caller keeps them alive until the driver returns."""
    arrays = [*inputs, *consts, *outs]
    if not all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays):
        raise TypeError("graphc: the cpu driver takes C-ordered arrays")  # pragma: no cover
    return np.array([id(a) for a in arrays], np.int64)


def _writeable(a: np.ndarray) -> np.ndarray:
    """A writeable copy of a read-only array (np.broadcast_to's): a donated input is written
    in place. (Before the driver took ids, a read-only array also needed a second compiled
    signature.)"""
    return a if a.flags.writeable else a.copy()


def _shape(shape, dims) -> tuple:
    return tuple(int(d.subs(dims)) if getattr(d, "free_symbols", None) else int(d)
                 for d in shape)


def _aligned_empty(nbytes: int, align: int = 64) -> np.ndarray:
    raw = np.empty(nbytes + align, np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes]


def factory(graph, spec, upcast=False, donate=None, matmul="auto", **unknown):
    if unknown:
        raise TypeError(f"compile: unknown option(s) {', '.join(map(repr, unknown))} for "
                        f"backend 'cpu'")
    return CpuFunction(graph, spec, upcast=upcast, donate=donate, matmul=matmul)
