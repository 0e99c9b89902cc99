"""MKL's gemm behind Numba's `numba_xxgemm` signature (blas.py), imported only once mkl.py has
loaded MKL's library: cblas_sgemm and cblas_dgemm take their sizes and scalars by value, so
this entry point reads alpha and beta from their addresses and passes the rest through,
column-major as the callers lay it out. Compiled once and kept in Numba's cache. Importing it
where MKL is not installed is an ImportError.

A small product (under ONE_THREAD_BELOW_FLOPS) runs on one thread: MKL woke its second thread
for the small MLP's 64x128x64 products, and the step took 56-58 us where it takes 44.5 on one.
Per call and per calling thread (MKL_Set_Num_Threads_Local), so nothing else changes."""
import numpy as np
from numba import cfunc, types

from .arrays import carray
from .mkl import load_library

# before anything here is compiled: code linking to a symbol no library provides makes LLVM
# abort the process at the next compile (an import of this module without MKL did, in CI)
load_library()

C, I, P, INT = types.char, types.intp, types.voidptr, types.intc
COLUMN_MAJOR, NO_TRANS, TRANS = 102, 111, 112  # CBLAS's
SINGLE, NO_TRANSPOSE = ord("s"), ord("n")  # xxgemm's (blas.py), as integers: no unicode compiled


def _cblas(name, scalar):
    return types.ExternalFunction(name, types.void(INT, INT, INT, INT, INT, INT, scalar, P, INT,
                                                   P, INT, scalar, P, INT))


_sgemm = _cblas("cblas_sgemm", types.float32)
_dgemm = _cblas("cblas_dgemm", types.float64)
_local_threads = types.ExternalFunction("MKL_Set_Num_Threads_Local", INT(INT))
ONE_THREAD_BELOW_FLOPS = 2 ** 21  # contract.py's BLOCKS_FROM_FLOPS: below, no call splits


@cfunc(types.intc(C, C, C, I, I, I, P, P, I, P, I, P, P, I), cache=True)
def xxgemm(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    ta = NO_TRANS if transa == NO_TRANSPOSE else TRANS
    tb = NO_TRANS if transb == NO_TRANSPOSE else TRANS
    small = 2 * m * n * k < ONE_THREAD_BELOW_FLOPS
    if small:
        saved = _local_threads(1)
    if kind == SINGLE:
        _sgemm(COLUMN_MAJOR, ta, tb, m, n, k, carray(alpha, (1,), np.float32)[0], a, lda, b,
               ldb, carray(beta, (1,), np.float32)[0], c, ldc)
    else:
        _dgemm(COLUMN_MAJOR, ta, tb, m, n, k, carray(alpha, (1,), np.float64)[0], a, lda, b,
               ldb, carray(beta, (1,), np.float64)[0], c, ldc)
    if small:
        _local_threads(saved)  # 0: the global setting again
    return 0


def address() -> int:
    return xxgemm.address
