"""How many BLAS threads one call of a compiled function gets, chosen from the sizes it binds.

A small matrix product (the tiny transformer's are a few MFLOP) takes well under a millisecond;
handing it to a second thread costs about as much as it saves on an idle machine, and on a
busy one the helper thread waits for a core, so a 40 ms training step took 130-580 ms on two
loaded cores. So a call whose largest contraction is below SERIAL_BELOW_FLOPS runs BLAS on one
thread; a larger call keeps the library's own setting (all cores, or whatever the user chose
with OPENBLAS_NUM_THREADS and the like: never more than that). threadpoolctl sets the limit for
the call and restores the previous one after it, so NumPy code around graphc is untouched.
Either way a call takes no more threads than the cores other processes leave free
(graphc/backend/load.py: CoreBudget): one thread, not two, while another process holds a core.
"""
from __future__ import annotations

import contextlib
import math
import sys

from .load import BUDGET

# About a millisecond of one core's work: below it a second thread cannot pay for itself.
SERIAL_BELOW_FLOPS = 2 ** 27
# Below this OpenBLAS runs one thread by itself: nothing to set (and a call stays cheap).
# SciPy's OpenBLAS 0.3.30 splits a product from 2^19 multiply-adds (64x128x64: process time
# twice the wall time over 5,000 calls; 64x128x63 once), and NumPy's 0.3.31 as well. Left to
# it, the small MLP's step (two such products) ran 68-72 us while the second core kept up and
# 108-124 us while it did not, in stretches of seconds that no load reading showed; one
# thread: 72-78 us.
UNTOUCHED_BELOW_FLOPS = 2 ** 20

CONTRACTIONS = ("matmul", "einsum", "fused_contraction")

_blas_pools = None
_NONE = contextlib.nullcontext()


def blas_pools():
    """The BLAS libraries loaded (threadpoolctl's view of them), looked up once (and again
    after `refresh`, when a backend loads another: SciPy's, which Numba's gemm calls)."""
    global _blas_pools
    if _blas_pools is None:
        from threadpoolctl import ThreadpoolController
        _blas_pools = ThreadpoolController().select(user_api="blas")
    return _blas_pools


def refresh() -> None:
    global _blas_pools
    _blas_pools = None


_counters: tuple = (None, [])  # (the pools they are for, their (get, set) pairs)


def thread_counters() -> list:
    """(get, set) of each BLAS library's thread count. For OpenBLAS on its own threads, its
    C functions themselves, by the names threadpoolctl looks for (a fifth of a microsecond
    each through ctypes, where threadpoolctl's methods took 0.4 and 0.8-1.4: the limit around
    one call of the small MLP's step, 73 us, took 6.75 us, now 2.3); else threadpoolctl's.
    Unlike those, they do not keep a second Python thread from setting the count while one
    holds it; each call restores only what it changed itself."""
    global _counters
    pools = blas_pools()
    if _counters[0] is not pools:
        _counters = (pools, [_counter(lib) for lib in pools.lib_controllers])
    return _counters[1]


def _counter(lib) -> tuple:
    if getattr(lib, "internal_api", None) == "openblas" and \
            getattr(lib, "threading_layer", None) == "pthreads":
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_", "_64"):
                get = getattr(lib.dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
                put = getattr(lib.dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    return get, put
    return lib.get_num_threads, lib.set_num_threads


class _Limit:
    """At most `threads` BLAS threads inside the block (None: the library's own setting), and
    never more than the cores free now, in BLAS and in Numba's pool; the previous settings
    restored after (direct calls into each library: a microsecond, where threadpoolctl's
    context takes ten)."""

    __slots__ = ("threads", "blas", "saved", "numba_saved")

    def __init__(self, threads: int | None, blas: bool = True):
        self.threads, self.blas, self.saved, self.numba_saved = threads, blas, [], None

    def __enter__(self):
        self.saved = []
        free = BUDGET.free()
        threads = free if self.threads is None else min(self.threads, free)
        for get, put in thread_counters():
            n = get()
            if n is not None and n > threads:
                put(threads)
                self.saved.append((put, n))
        # Numba's pool (parallel loops, the generated parallel matmul), where it has been
        # started: one pool at a time, so one thread while BLAS runs on more than one (its
        # threads spin after each call and would starve Numba's workers)
        pool = sys.modules.get("numba.np.ufunc.parallel")
        self.numba_saved = None
        want = free if threads == 1 or not self.blas else 1
        # (at most NUMBA_NUM_THREADS, which reading the count, 0.9 us, would only confirm)
        if pool is not None and pool._is_initialized and want < pool.NUM_THREADS:
            n = pool.get_num_threads()
            if n > want:
                pool.set_num_threads(want)
                self.numba_saved = n
        return self

    def __exit__(self, *exc):
        for put, n in self.saved:
            put(n)
        if self.numba_saved is not None:
            sys.modules["numba.np.ufunc.parallel"].set_num_threads(self.numba_saved)
        return False


class BlasThreads:
    """The thread choice for one compiled graph: the FLOPs of its largest contraction as a
    function of the symbolic dims, evaluated at each call's sizes."""

    def __init__(self, graph, numba_pool: bool = False, calls_blas: bool = True):
        """numba_pool: the compiled code has parallel loops (their threads are limited with
        BLAS's on every call); calls_blas: it calls BLAS at all."""
        import sympy  # here, not at the top: the compile helper imports this module without it
        from ..ir.op import get_op
        self.numba_pool, self.calls_blas = numba_pool, calls_blas
        counts = [sympy.sympify(get_op(n.op).flops(n)) for n in graph.nodes()
                  if n.op in CONTRACTIONS]
        self.dims = sorted(set().union(*(c.free_symbols for c in counts)), key=str)
        # polynomials in the dims, as a Python function (sympy.lambdify took 5 ms, a tenth of
        # a warm first step's compile), its arguments named d0, d1... whatever the dims' names
        names = {d: sympy.Symbol(f"d{j}") for j, d in enumerate(self.dims)}
        code = ", ".join(str(c.xreplace(names)) for c in counts)  # (no pycode: sympy.codegen)
        self._counts = eval(f"lambda {', '.join(map(str, names.values()))}: ({code},)",
                            {"Max": max, "Min": min, "floor": math.floor,
                             "ceiling": math.ceil}) if counts else None
        self._limits: dict = {}  # dim sizes -> the context for them (bounded)

    def largest_flops(self, dims: dict) -> int:
        """The FLOPs of the largest contraction at these dim sizes (0 without contractions)."""
        if self._counts is None:
            return 0
        return int(max(self._counts(*(dims[d] for d in self.dims))))

    def threads(self, dims: dict) -> int | None:
        """1 for a small call; None for a large one (the library's own setting stays) and
        for a tiny one (OpenBLAS runs it on one thread anyway)."""
        flops = self.largest_flops(dims)
        return 1 if UNTOUCHED_BELOW_FLOPS <= flops < SERIAL_BELOW_FLOPS else None

    def limit(self, dims: dict, serial_blas: bool = False):
        """A context in which BLAS runs on the threads this call should get: one with
        `serial_blas` (a step on Numba's pool: graphc/backend/numba/runtime.py, _modes)."""
        key = (serial_blas,) + tuple(sorted((str(k), v) for k, v in dims.items()))
        limit = self._limits.get(key, False)
        if limit is False:
            threads = 1 if serial_blas else self.threads(dims)
            tiny = self.largest_flops(dims) < UNTOUCHED_BELOW_FLOPS
            if threads is None and tiny and not self.numba_pool:
                limit = _NONE
            else:  # at a tiny size OpenBLAS runs one thread by itself: say so to Numba's pool
                limit = _Limit(1 if threads is None and tiny else threads, self.calls_blas)
            if len(self._limits) < 64:
                self._limits[key] = limit
        return limit
