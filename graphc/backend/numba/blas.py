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
    from llvmlite import binding, ir
    from numba.core import cgutils
    from numba.extending import intrinsic
    for f, address in _fortran_gemms().items():
        binding.add_symbol(f"graphc_scipy_{f}", address)
    from ..blas import refresh
    refresh()  # the thread control finds the BLAS library now loaded

    @intrinsic
    def xxgemm(typingctx, kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        """Numba's numba_xxgemm as inline code: Fortran takes every argument by address, so
        the flags and sizes go in stack slots of the calling function (a NumPy array for them
        could be freed by Numba's reference counting before the call reads it)."""
        arg_types = (kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

        def codegen(context, builder, signature, args):
            byte = ir.IntType(8).as_pointer()
            values = dict(zip(("kind", "ta", "tb", "m", "n", "k", "alpha", "a", "lda", "b",
                               "ldb", "beta", "c", "ldc"), zip(args, arg_types)))

            def integer(name):
                value, ty = values[name]
                return context.cast(builder, value, ty, types.int64)

            def slot(name, bits):  # the value, narrowed to Fortran's type, in a stack slot
                at = cgutils.alloca_once(builder, ir.IntType(bits))
                builder.store(builder.trunc(integer(name), ir.IntType(bits)), at)
                return builder.bitcast(at, byte)

            def address(name):
                value, ty = values[name]
                if isinstance(ty, types.Integer):
                    return builder.inttoptr(integer(name), byte)
                return builder.bitcast(value, byte)
            call = [slot("ta", 8), slot("tb", 8), slot("m", 32), slot("n", 32), slot("k", 32),
                    address("alpha"), address("a"), slot("lda", 32), address("b"),
                    slot("ldb", 32), address("beta"), address("c"), slot("ldc", 32)]
            fortran = ir.FunctionType(ir.VoidType(), [byte] * 13)
            single = builder.icmp_signed("==", integer("kind"), ir.Constant(ir.IntType(64), 115))
            with builder.if_else(single) as (sgemm, dgemm):  # 115: ord("s")
                with sgemm:
                    builder.call(cgutils.get_or_insert_function(
                        builder.module, fortran, "graphc_scipy_sgemm"), call)
                with dgemm:
                    builder.call(cgutils.get_or_insert_function(
                        builder.module, fortran, "graphc_scipy_dgemm"), call)
            return ir.Constant(ir.IntType(32), 0)
        return types.intc(*arg_types), codegen
    return xxgemm


xxgemm = _python_gemm if config.DISABLE_JIT else _compiled_gemm()
