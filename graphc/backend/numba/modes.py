"""Which way each contraction runs (the `mode` argument of its kernel): BLAS, gemm.py's
generated matmul on one thread (`tile`) or on all (`product`), or BLAS in blocks on all
threads (graphc/backend/numba/contract.py). Which is fastest depends on
the shape and the machine, so `choose` measures it once per shape, in native code, and keeps
the answer in the cache directory."""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from .blas import PROVIDER
from .gemm import loaded as load

# the `mode` argument of a contraction kernel
BLAS, SERIAL, PARALLEL, BLOCKS, ITEMS = 1, 0, 2, 3, 4
# the shared matmul module (gemm.py) a contraction kernel calls in each mode but BLAS
PART_OF_MODE = {SERIAL: "tile", PARALLEL: "product", BLOCKS: "blocks", ITEMS: "items"}
MODE_NAMES = {BLAS: "BLAS", SERIAL: "generated", PARALLEL: "generated on all threads",
              BLOCKS: "BLAS in blocks on all threads",
              ITEMS: "generated in batch items on all threads"}
_CHOICES = "matmul-choices.json"
_choices: dict | None = None
# A choice measured while other processes used more than this many cores is not written down:
# on a busy machine BLAS's threads were measured 3-10x slower than they run, and a choice kept
# on disk outlives the load that made it.
BUSY_CORES = 0.5
# Such a choice is used in this process only, and measured again after these many seconds
# (the first time, the second...), in case the load that spoiled it has passed: a compile
# helper still exiting once made MKL's threads 8x slower in the first call's measurements,
# and the big MLP's step chose a product that took it from 3.3 to 5.8 ms
REMEASURE_AFTER_S = (2.0, 8.0, 32.0)
_unsettled: dict = {}  # key -> (times, note, when to measure again (monotonic), times measured)


def choose(dtype: str, m: int, n: int, k: int, tiles: tuple, candidates: tuple,
           threads: int, blas_threads: int | None) -> tuple[int, str, float | None]:
    """(mode, why, again) for an m x n x k product: the fastest of `candidates` measured on
    this machine (once per shape: the result is kept in the cache directory), each timed in
    native code over enough repeats to take a few milliseconds, the best of three; BLAS on
    `blas_threads` threads (None: the library's own setting), as the call will run it.
    `again`: None, or when (time.monotonic()) a choice measured on a busy machine would be
    measured again if asked for."""
    if len(candidates) == 1:
        return candidates[0], "the only way", None
    key = f"{dtype} {m}x{n}x{k} tiles {'x'.join(map(str, tiles))} threads {threads} " \
          f"{PROVIDER} threads {blas_threads or 'all'} " \
          f"{'/'.join(MODE_NAMES[c] for c in candidates)}"
    known = _load_choices()
    note, again = "", None
    unsettled = _unsettled.get(key)
    if unsettled is not None and time.monotonic() < unsettled[2]:
        times, note, again, _ = unsettled
    elif key in known:
        times = known[key]
    else:
        from ..blas import _Limit
        from ..load import LoadMeter
        limit = _Limit(blas_threads) if blas_threads else contextlib.nullcontext()
        meter = LoadMeter()
        with limit:
            times = _measure(dtype, m, n, k, tiles, candidates)
        others = meter.others()
        if others <= BUSY_CORES:
            known[key] = times
            _save_choices(known)
            _unsettled.pop(key, None)
        else:  # timings taken while others ran: used now, measured again later
            tries = unsettled[3] + 1 if unsettled else 1
            note = f"; other processes used {others:.1f} cores meanwhile: not kept"
            again = math.inf
            if tries <= len(REMEASURE_AFTER_S):
                again = time.monotonic() + REMEASURE_AFTER_S[tries - 1]
                note += f", measured again after {REMEASURE_AFTER_S[tries - 1]:g} s"
            if len(_unsettled) >= 1024:  # bounded, as every cache
                _unsettled.clear()
            _unsettled[key] = (times, note, again, tries)
    best = min(candidates, key=lambda c: times[MODE_NAMES[c]])
    return best, "measured: " + ", ".join(f"{name} {t * 1e3:.3g} ms" for name, t in
                                            sorted(times.items(), key=lambda kv: kv[1])) + \
        note, (again if again != math.inf else None)


def loop_threads() -> int:
    """numba.get_num_threads(), or before Numba's pool has started, the count it starts with:
    asking starts it (5 ms), which a step that runs no parallel loop never needs."""
    import sys
    pool = sys.modules.get("numba.np.ufunc.parallel")
    if pool is not None and pool._is_initialized:
        return pool.get_num_threads()
    from numba import config
    return config.NUMBA_NUM_THREADS


# the ways each shared matmul module (gemm.py) times
TIMED_IN = {"tile": (BLAS, SERIAL), "product": (PARALLEL,), "blocks": (BLOCKS,), "items": ()}


def _runs(dtype, a, b, out, m, n, k, tiles) -> dict:
    """mode -> reps -> `reps` products out = a @ b that way, in native code."""
    return {BLAS: lambda reps: load(dtype).timed_blas(a, b, out, m, n, k, reps),
            SERIAL: lambda reps: load(dtype).timed_serial(a, b, out, m, n, k, *tiles, reps),
            PARALLEL: lambda reps: load(dtype, "product").timed_parallel(a, b, out, m, n, k,
                                                                          *tiles, reps),
            BLOCKS: lambda reps: load(dtype, "blocks").timed_blocks(a, b, out, m, n, k, reps)}


def compile_timings(dtype: str, part: str) -> None:
    """Compile (or load from the cache) the timed ways of one shared matmul module, by running
    each once on a 1 x 1 x 1 product: a cold first step compiled them in `choose` (0.85 s of
    the big MLP's), and a helper process compiling the module now does it too (jobs.py)."""
    one = np.ones(1, dtype)
    runs = _runs(dtype, one, one, np.empty(1, dtype), 1, 1, 1, (1, 1, 1))
    for mode in TIMED_IN[part]:
        runs[mode](1)


def _measure(dtype, m, n, k, tiles, candidates) -> dict:
    import time
    rng = np.random.default_rng(0)
    a = rng.standard_normal(m * k).astype(dtype)
    b = rng.standard_normal(k * n).astype(dtype)
    out = np.empty(m * n, dtype)
    runs = _runs(dtype, a, b, out, m, n, k, tiles)
    reps = {}
    for c in candidates:  # a first run warms the caches and sizes the repeats
        start = time.perf_counter()
        runs[c](1)
        once = max(time.perf_counter() - start, 1e-7)
        reps[c] = max(1, min(10000, int(3e-3 / once)))
    times = {MODE_NAMES[c]: float("inf") for c in candidates}
    for _ in range(3):  # interleaved, the best of three: a burst of other work hits one run
        for c in candidates:
            start = time.perf_counter()
            runs[c](reps[c])
            times[MODE_NAMES[c]] = min(times[MODE_NAMES[c]],
                                       (time.perf_counter() - start) / reps[c])
    return times


def _load_choices() -> dict:
    global _choices
    if _choices is None:
        import json
        import os
        from . import cache
        try:
            with open(os.path.join(cache.cache_dir(), _CHOICES), encoding="utf-8") as f:
                _choices = json.load(f)
            if not isinstance(_choices, dict) or _choices.get("machine") != _machine():
                _choices = {}
        except (OSError, ValueError):
            _choices = {}
        _choices["machine"] = _machine()
    return _choices


def _save_choices(choices: dict) -> None:
    import json
    import os
    from . import cache
    path = os.path.join(cache.cache_dir(), _CHOICES)
    cache.write_atomic(path, json.dumps(choices, indent=1, sort_keys=True))


def _machine() -> str:
    from .build import versions
    return " ".join(f"{k}={v}" for k, v in sorted(versions().items()))
