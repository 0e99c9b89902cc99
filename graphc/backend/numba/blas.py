"""BLAS gemm from Numba-compiled code: the sgemm and dgemm of the BLAS that SciPy ships, by
the function pointers its `scipy.linalg.cython_blas` module exports (what Numba's own
`numba_xxgemm` calls), registered as symbols so that a function calling them can be cached
on disk, where a ctypes pointer could not.

The extension module is loaded by itself, not through `import scipy.linalg`: that package's
imports took 0.17 s of a 0.74 s first step from a warm cache, for two pointers. It loads under
its own name, so a later `import scipy.linalg` finds the same module (Cython creates it once).

xxgemm(kind, transa, transb, m, n, k, alpha*, a, lda, b, ldb, beta*, c, ldc) is column-major
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


CYTHON_BLAS = "scipy.linalg.cython_blas"


def _cython_blas():
    """SciPy's cython_blas module, loaded from its file without running scipy.linalg's
    package imports (a plain import where the file is not where SciPy keeps it)."""
    import importlib.machinery
    import importlib.util
    import os
    import sys
    if CYTHON_BLAS in sys.modules:
        return sys.modules[CYTHON_BLAS]
    scipy = importlib.util.find_spec("scipy")
    for root in (scipy.submodule_search_locations or []) if scipy else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(root, "linalg", "cython_blas" + suffix)
            if os.path.exists(path):
                spec = importlib.util.spec_from_file_location(CYTHON_BLAS, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                # Cython's module registers itself; out again, so that a later import of
                # scipy.linalg imports it as its own (Cython hands back this same module)
                sys.modules.pop(CYTHON_BLAS, None)
                return module
    return importlib.import_module(CYTHON_BLAS)


def _fortran_gemms() -> dict:
    """{"sgemm": address, "dgemm": address} of SciPy's BLAS (Fortran calling convention)."""
    capi = _cython_blas().__pyx_capi__
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer = ctypes.pythonapi.PyCapsule_GetPointer
    pointer.restype, pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return {f: pointer(capi[f], name(capi[f])) for f in ("sgemm", "dgemm")}


def _compiled_gemm():
    from llvmlite import binding
    from numba import njit
    for f, address in _fortran_gemms().items():
        binding.add_symbol(f"graphc_scipy_{f}", address)
    from ..blas import refresh
    refresh()  # the thread control finds the BLAS library now loaded
    fortran = types.void(*[types.voidptr] * 13)
    sgemm = types.ExternalFunction("graphc_scipy_sgemm", fortran)
    dgemm = types.ExternalFunction("graphc_scipy_dgemm", fortran)

    @njit(nogil=True)
    def xxgemm(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        """Numba's numba_xxgemm, in Numba: Fortran takes every argument by address."""
        flags = np.empty(2, np.uint8)
        flags[0], flags[1] = transa, transb
        ints = np.empty(6, np.int32)  # SciPy's BLAS takes 32-bit integers
        ints[0], ints[1], ints[2], ints[3], ints[4], ints[5] = m, n, k, lda, ldb, ldc
        f, i = flags.ctypes.data, ints.ctypes.data
        if kind == 115:  # ord("s")
            sgemm(f, f + 1, i, i + 4, i + 8, alpha, a, i + 12, b, i + 16, beta, c, i + 20)
        else:
            dgemm(f, f + 1, i, i + 4, i + 8, alpha, a, i + 12, b, i + 16, beta, c, i + 20)
        return 0
    return xxgemm


xxgemm = _python_gemm if config.DISABLE_JIT else _compiled_gemm()
