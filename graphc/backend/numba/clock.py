"""A monotonic clock in nanoseconds, read from Numba-compiled code: what f.impl.profile's
driver (graphc/backend/numba/driver.py) reads around each kernel, so that a step's kernels are
timed as the step runs them, in one native call. Timing each kernel from Python instead put a
Python call and a pause between kernels: a parallel kernel then paid its threads' wake-up, and
the big MLP's ReLU-gradient product was reported at 113 us where the step spends 69 on it.

`now(scratch)` reads CLOCK_MONOTONIC through libc's clock_gettime (about 20 ns), into
`scratch`, an int64 array of two elements that the caller keeps. Under NUMBA_DISABLE_JIT it
is time.monotonic_ns.
"""
from __future__ import annotations

import time

from numba import config, types

MONOTONIC = time.CLOCK_MONOTONIC

if config.DISABLE_JIT:
    def now(scratch):
        return time.monotonic_ns()
else:
    from numba import njit

    _clock_gettime = types.ExternalFunction("clock_gettime",
                                            types.intc(types.intc, types.voidptr))

    @njit(nogil=True)
    def now(scratch):
        """Nanoseconds on the monotonic clock."""
        _clock_gettime(MONOTONIC, scratch.ctypes.data)
        return scratch[0] * 1_000_000_000 + scratch[1]
