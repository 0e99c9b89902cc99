"""NumPy's own OpenBLAS as the BLAS that generated code calls, where NumPy ships one that
exports CBLAS (its wheels do: scipy-openblas, 64-bit integers); where it does not, SciPy's
through Numba's `numba_xxgemm` (blas.py).

Why: NumPy's wheel carried OpenBLAS 0.3.31 here, SciPy's 0.3.30 (2026-12-01, AMD EPYC, one
thread, the same call from compiled code): the small MLP's 64x64x128 product took 15.6 us
against 19.0, with A transposed 14.3 against 20.4, 128x64x10 with A transposed 3.7 against
6-8, 512x256x10 74 against 125; the big MLP's products 3-7% less. Which library is part of
every generated module's name (blas.py PROVIDER, build.py runtime_digest), so a cache entry
never calls the other.

`find()` opens the library NumPy loaded, by its file beside NumPy's package, and reads its
CBLAS gemm addresses and whether its integers are 64-bit (`openblas_get_config` says
USE64BITINT). `xxgemm64` and `xxgemm32` are xxgemm's signature over CBLAS's, compiled into
each caller (the scalars are read from their addresses; CBLAS takes them by value): a gemm of
its own would be one more cached library to load at each warm start.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np
from numba import types
from numba.extending import register_jitable

from .arrays import carray

COLUMN_MAJOR, NO_TRANS, TRANS = 102, 111, 112  # CBLAS's
SINGLE, NO_TRANSPOSE = ord("s"), ord("n")  # xxgemm's (blas.py), as integers: no unicode compiled
# the names OpenBLAS builds give a symbol: NumPy's wheels prefix "scipy_" and, with 64-bit
# integers, suffix "64_"
AFFIXES = (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", ""))
# the names generated code calls them by (binding.add_symbol), by integer width: code compiled
# for one width never links to a library of the other
SYMBOLS = {bits: {kind: f"graphc_numpy_{kind}gemm{bits}" for kind in "sd"} for bits in (32, 64)}


def library_paths() -> list[str]:
    """The OpenBLAS libraries that NumPy's wheels put beside its package (numpy.libs on Linux
    and Windows, numpy/.dylibs on macOS)."""
    package = os.path.dirname(np.__file__)
    found = []
    for folder in (package + ".libs", os.path.join(package, ".dylibs")):
        found += sorted(glob.glob(os.path.join(folder, "*openblas*")))
    return found


def find() -> tuple[int, int, int] | None:
    """(sgemm's address, dgemm's address, integer bits) of the CBLAS gemm of NumPy's
    OpenBLAS, or None where NumPy has none of its own (a NumPy built on the system's BLAS)."""
    for path in library_paths():
        try:
            library = ctypes.CDLL(path)  # loaded by NumPy already: this finds it
        except OSError:
            continue
        for prefix, suffix in AFFIXES:
            config = getattr(library, f"{prefix}openblas_get_config{suffix}", None)
            sgemm = getattr(library, f"{prefix}cblas_sgemm{suffix}", None)
            dgemm = getattr(library, f"{prefix}cblas_dgemm{suffix}", None)
            if config is None or sgemm is None or dgemm is None:
                continue
            config.restype = ctypes.c_char_p
            bits = 64 if b"USE64BITINT" in (config() or b"") else 32
            return (ctypes.cast(sgemm, ctypes.c_void_p).value,
                    ctypes.cast(dgemm, ctypes.c_void_p).value, bits)
    return None


def register(found: tuple[int, int, int]):
    """Make NumPy's gemm callable from compiled code by name; xxgemm for its integer width."""
    from llvmlite import binding
    sgemm, dgemm, bits = found
    binding.add_symbol(SYMBOLS[bits]["s"], sgemm)
    binding.add_symbol(SYMBOLS[bits]["d"], dgemm)
    return xxgemm64 if bits == 64 else xxgemm32


def _cblas(name, scalar, integer):
    i, c, p = integer, types.intc, types.voidptr
    return types.ExternalFunction(name, types.void(c, c, c, i, i, i, scalar, p, i, p, i, scalar,
                                                   p, i))


def _gemm_over(sgemm, dgemm):
    """xxgemm (column-major, transposes as characters, alpha and beta by address) over CBLAS's
    sgemm and dgemm."""
    def xxgemm(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        ta = NO_TRANS if transa == NO_TRANSPOSE else TRANS
        tb = NO_TRANS if transb == NO_TRANSPOSE else TRANS
        if kind == SINGLE:
            sgemm(COLUMN_MAJOR, ta, tb, m, n, k, carray(alpha, (1,), np.float32)[0], a, lda, b,
                  ldb, carray(beta, (1,), np.float32)[0], c, ldc)
        else:
            dgemm(COLUMN_MAJOR, ta, tb, m, n, k, carray(alpha, (1,), np.float64)[0], a, lda, b,
                  ldb, carray(beta, (1,), np.float64)[0], c, ldc)
        return 0
    return register_jitable(xxgemm)


xxgemm64 = _gemm_over(_cblas(SYMBOLS[64]["s"], types.float32, types.int64),
                      _cblas(SYMBOLS[64]["d"], types.float64, types.int64))
xxgemm32 = _gemm_over(_cblas(SYMBOLS[32]["s"], types.float32, types.intc),
                      _cblas(SYMBOLS[32]["d"], types.float64, types.intc))
