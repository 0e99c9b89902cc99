"""Numba's CUDA simulator hands all threads of a block one shared array, also when they ask at
the same moment: graphc takes a lock around the simulator's allocation
(graphc/backend/cuda/simulator.py). The race needs the interpreter to switch threads between
the simulator's lookup of the array and its store, which happens now and then (more often on
a loaded machine); a lookup that sleeps makes it happen every time. On a GPU there is nothing
to test."""
import os
import threading
import time

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                                reason="a race of Numba's CUDA simulator")


class SlowLookups(dict):
    """The simulator's allocations by call site, each lookup followed by a thread switch."""

    def get(self, key, default=None):
        found = super().get(key, default)
        time.sleep(1e-3)
        return found


def _threads_split(shared, n=8) -> bool:
    """Whether n threads, released at once, got different arrays from one cuda.shared.array
    call site of one launch (`shared`)."""
    got, start = [], threading.Barrier(n)

    def thread():
        start.wait()
        got.append(id(shared.array((4, 1), np.float32)))
    threads = [threading.Thread(target=thread) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(set(got)) > 1


def test_the_threads_of_a_block_get_one_shared_array():
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    from graphc.backend.cuda.simulator import guard_shared_arrays
    guard_shared_arrays()
    for _ in range(3):
        shared = FakeCUDAShared(0)
        shared._allocations = SlowLookups()
        assert not _threads_split(shared)


def test_each_call_site_keeps_its_own_array_and_dynamic_shared_memory_still_works():
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    from graphc.backend.cuda.simulator import guard_shared_arrays
    guard_shared_arrays()
    shared = FakeCUDAShared(16)
    a = shared.array((2, 2), np.float32)
    b = shared.array(3, np.int64)
    assert a is not b and a.shape == (2, 2) and b.dtype == np.int64
    assert shared.array(0, np.dtype(np.float32)).size == 4  # the 16 dynamic bytes


def test_compiling_for_the_simulator_installs_the_lock(monkeypatch):
    from numba.cuda.simulator.kernelapi import FakeCUDAShared
    unguarded = getattr(FakeCUDAShared.array, "__wrapped__", FakeCUDAShared.array)
    monkeypatch.setattr(FakeCUDAShared, "array", unguarded)  # as numba-cuda has it
    gc.compile(gc.sum(gc.tensor("x", (3, 2)), axis=1), backend="cuda")
    assert getattr(FakeCUDAShared.array, "guarded_by_graphc", False)
