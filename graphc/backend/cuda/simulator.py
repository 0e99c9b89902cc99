"""Numba's CUDA simulator with one race taken out: its allocation of shared arrays.

The simulator runs every GPU thread of a block as a Python thread. `cuda.shared.array(shape,
dtype)` must give all of them the same array; numba-cuda 0.30.4's `FakeCUDAShared.array`
(numba_cuda/numba/cuda/simulator/kernelapi.py) finds it by the calling line, without a lock:

    res = self._allocations.get(caller)
    if res is None:
        res = np.empty(shape, dtype)
        self._allocations[caller] = res
    return res

The interpreter may switch threads after each call in there. When it does so between the
lookup and the store, two threads both find nothing and each makes an array; the one whose
array is overwritten in the dict then writes its partial sums or tile slices into an array
no other thread reads, and reads its own, never written (np.empty): one block of one launch
computes a wrong result, although every barrier is in place. With a 1 us switch interval it is
about one launch in 2000 (more on a loaded machine); it made the simulator suite fail about one
run in four (a train step's loss, a contraction, a softmax: whatever kernel it hit).

`guard_shared_arrays()` replaces that method, once per process, by the same lookup under a
lock. A GPU has one shared array per block; this changes nothing there.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

_lock = threading.Lock()


def guard_shared_arrays() -> None:
    """Make the simulator's `cuda.shared.array` hand one block's threads one array."""
    from numba.cuda.simulator import kernelapi
    FakeCUDAShared = kernelapi.FakeCUDAShared
    if getattr(FakeCUDAShared.array, "guarded_by_graphc", False):
        return
    unguarded = FakeCUDAShared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory: one buffer, no race
            return unguarded(self, shape, dtype, alignment)
        if isinstance(dtype, kernelapi.types.Type):
            dtype = kernelapi.numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)  # the simulator's key: the line that asks for the array
        key = (caller.f_code.co_filename, caller.f_lineno)
        with _lock:
            allocations = self.__dict__.setdefault("_allocations", {})
            found = allocations.get(key)
            if found is None:
                found = allocations[key] = np.empty(shape, dtype)
        return found

    array.__doc__, array.__wrapped__ = unguarded.__doc__, unguarded
    array.guarded_by_graphc = True
    FakeCUDAShared.array = array
