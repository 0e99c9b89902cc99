"""BLAS gemm from Numba-compiled code: the `numba_xxgemm` entry point of Numba's own helper
library, which calls the BLAS that SciPy ships (resolved by name when a module loads, so a
function calling it can be cached on disk, where a ctypes pointer could not).

xxgemm(kind, transa, transb, m, n, k, alpha*, a, lda, b, ldb, beta*, c, ldc) is column-major
BLAS; `kind` is ord('s') for float32 and ord('d') for float64; alpha and beta are passed by
address: `on_stack(value)`. Under NUMBA_DISABLE_JIT=1 the same call runs in NumPy.
"""
import collections
import ctypes

import numpy as np
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic


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


# ---- a scalar's address, for alpha and beta ----------------------------------------------
# Numba frees an array after its last use: a one-element array's `.ctypes.data` among a call's
# arguments pointed at freed memory by the time BLAS read it. Harmless until something
# allocates in between; the thread launch of `gemm_blocks` (gemm.py) did, and beta read back
# 4e-32. A copy in the calling function's stack frame lives until that function returns.
_kept: collections.deque = collections.deque(maxlen=64)  # plain Python: the last few copies


def _python_on_stack(value):
    copy = np.array([value])
    _kept.append(copy)
    return copy.ctypes.data


@intrinsic
def _on_stack(typingctx, value):
    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once_value(builder, args[0])
        return builder.ptrtoint(slot, cgutils.intp_t)
    return types.intp(value), codegen


on_stack = _python_on_stack if config.DISABLE_JIT else _on_stack
