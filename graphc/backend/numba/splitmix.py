"""SplitMix64 for generated kernels: the counter-based generator of graphc/ops/random.py as one
scalar function, `splitmix64(state, counter) = mix64(state + counter * GOLDEN)` in wrapping
uint64 arithmetic (SplitMix64's counter-th output from `state`). A random_uniform kernel
computes its key as splitmix64(seed ^ stream * GOLDEN, 0) and element i's bits as
splitmix64(key, i + 1): the reference's formulas, so every backend draws the same bits.

Compiled, the arithmetic wraps silently; run as Python (NUMBA_DISABLE_JIT=1, and the CUDA
simulator: graphc/backend/cuda/splitmix.py), NumPy's uint64 scalars wrap too but warn of
each overflow, which `python_splitmix64` silences.
"""
from __future__ import annotations

import numpy as np

from ...ops.random import GOLDEN, MUL1, MUL2

S30, S27, S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def mix(state, counter):
    """mix64(state + counter * GOLDEN), all uint64 (the function every target compiles)."""
    z = state + counter * GOLDEN
    z = (z ^ (z >> S30)) * MUL1
    z = (z ^ (z >> S27)) * MUL2
    return z ^ (z >> S31)


def python_splitmix64(state, counter):
    """`mix` run by the Python interpreter, where NumPy warns of the wrapping it relies on."""
    with np.errstate(over="ignore"):
        return mix(np.uint64(state), np.uint64(counter))


def _compiled():
    from numba import config, njit
    if config.DISABLE_JIT:
        return python_splitmix64
    return njit(cache=True, nogil=True)(mix)


splitmix64 = _compiled()
