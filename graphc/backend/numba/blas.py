"""BLAS gemm from Numba-compiled code: the `numba_xxgemm` entry point of Numba's own helper
library, which calls the BLAS that SciPy ships (resolved by name when a module loads, so a
function calling it can be cached on disk, where a ctypes pointer could not).

gemm(kind, transa, transb, m, n, k, alpha*, a, lda, b, ldb, beta*, c, ldc) is column-major
BLAS; `kind` is ord('s') for float32 and ord('d') for float64; alpha and beta are passed by
address (one-element arrays). Under NUMBA_DISABLE_JIT=1 the same call runs in NumPy.
"""
import ctypes

import numpy as np
from numba import config, types


def _python_gemm(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major gemm over raw addresses, in NumPy (for NUMBA_DISABLE_JIT=1)."""
    dtype = np.dtype(np.float32 if kind == ord("s") else np.float64)
    ctype = ctypes.c_float if kind == ord("s") else ctypes.c_double

    def matrix(address, rows, cols, ld):
        if rows == 0 or cols == 0:
            return np.zeros((rows, cols), dtype)
        flat = np.ctypeslib.as_array(ctypes.cast(address, ctypes.POINTER(ctype)),
                                     shape=(ld * (cols - 1) + rows,))
        return np.lib.stride_tricks.as_strided(flat, (rows, cols),
                                               (dtype.itemsize, ld * dtype.itemsize))

    def scalar(address):
        return np.ctypeslib.as_array(ctypes.cast(address, ctypes.POINTER(ctype)), shape=(1,))[0]
    op_a = matrix(a, m, k, lda) if transa == ord("n") else matrix(a, k, m, lda).T
    op_b = matrix(b, k, n, ldb) if transb == ord("n") else matrix(b, n, k, ldb).T
    out = matrix(c, m, n, ldc)
    beta_value = scalar(beta)
    product = scalar(alpha) * (op_a @ op_b)
    out[...] = product if beta_value == 0 else product + beta_value * out
    return 0


def _load_scipy_blas():
    """Numba's gemm calls SciPy's BLAS: load it now, so the thread control sees it."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:  # pragma: no cover (scipy comes with the examples extra)
        return
    from ..blas import refresh
    refresh()


_load_scipy_blas()

if config.DISABLE_JIT:
    xxgemm = _python_gemm
else:
    xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
        types.char, types.char, types.char, types.intp, types.intp, types.intp, types.voidptr,
        types.voidptr, types.intp, types.voidptr, types.intp, types.voidptr, types.voidptr,
        types.intp))


def _gemm(kind, transa, transb, m, n, k, al, a, lda, b, ldb, be, c, ldc):
    """`xxgemm` with alpha and beta in one-element arrays, passed as arrays. Numba frees an
    array after its last use: `al.ctypes.data` among a call's arguments pointed at freed
    memory by the time BLAS read it. Harmless until something allocates in between; the
    thread launch of `gemm_blocks` (gemm.py) did, and beta read back 4e-32. Here the
    caller's arrays stay alive until the call returns."""
    return xxgemm(kind, transa, transb, m, n, k, al.ctypes.data, a, lda, b, ldb,
                  be.ctypes.data, c, ldc)


if config.DISABLE_JIT:
    gemm = _gemm
else:
    from numba import njit
    gemm = njit(nogil=True)(_gemm)
