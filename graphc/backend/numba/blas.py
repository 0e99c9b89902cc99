"""BLAS gemm from Numba-compiled code, called by name (resolved when a module loads, so a
function calling it can be cached on disk, where a ctypes pointer could not): MKL's gemm where
MKL is installed (mkl.py), registered as `graphc_mkl_xxgemm`; else the CBLAS gemm of the
OpenBLAS that NumPy ships (numpy_blas.py); else the `numba_xxgemm` entry point of Numba's own
helper library, which calls the BLAS that SciPy ships (OpenBLAS). Which one is part of every
generated module's name (build.py: runtime_digest).

xxgemm(kind, transa, transb, m, n, k, alpha*, a, lda, b, ldb, beta*, c, ldc) is column-major
BLAS; `kind` is SINGLE (ord('s')) for float32 and DOUBLE (ord('d')) for float64; alpha and
beta are passed by address: `on_stack(value)`. Under NUMBA_DISABLE_JIT=1 the same call runs in
NumPy.
"""
import collections
import ctypes
import os
import sys

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
    """Numba's gemm calls SciPy's BLAS: load it now, so the thread control sees it (the
    caller refreshes threadpoolctl's view once every BLAS is loaded). Its module
    alone: `import scipy.linalg.cython_blas` first runs scipy.linalg's __init__, 0.13-0.17 s
    of a warm start's 0.72 s (Numba imports the module by that name as it starts, and finds
    it loaded)."""
    name = "scipy.linalg.cython_blas"
    try:
        if name not in sys.modules:
            sys.modules[name] = _extension(name)
            if "scipy.linalg" in sys.modules:
                sys.modules["scipy.linalg"].cython_blas = sys.modules[name]
            else:  # its package, imported later by anyone, gets it as an import would give it
                sys.meta_path.insert(0, _AttachTo("scipy.linalg", "cython_blas"))
    except Exception:  # noqa: BLE001 (an unusual install: the ordinary import)
        sys.modules.pop(name, None)
        try:
            import scipy.linalg.cython_blas  # noqa: F401
        except ImportError:  # pragma: no cover (scipy is a dependency)
            return


class _AttachTo:
    """An import hook for one package: when it is first imported, its submodule `leaf`, loaded
    on its own before (already in sys.modules), becomes its attribute, as importing the
    submodule through the package would have made it (`scipy.linalg.cython_blas` must work
    after a later `import scipy.linalg`). It removes itself on first use."""

    def __init__(self, package: str, leaf: str):
        self.package, self.leaf = package, leaf

    def find_spec(self, fullname, path, target=None):
        if fullname != self.package:
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        run, leaf = spec.loader.exec_module, self.leaf

        def exec_module(module):
            run(module)
            setattr(module, leaf, sys.modules[f"{fullname}.{leaf}"])
        spec.loader.exec_module = exec_module
        return spec


def _extension(name: str):
    """Extension module `name` loaded from its file, without running its packages' __init__."""
    import importlib.machinery
    import importlib.util
    package, _, leaf = name.rpartition(".")
    top = importlib.util.find_spec(package.split(".")[0])
    folder = os.path.join(os.path.dirname(top.origin), *package.split(".")[1:])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, leaf + suffix)
        if os.path.exists(path):
            loader = importlib.machinery.ExtensionFileLoader(name, path)
            spec = importlib.util.spec_from_file_location(name, path, loader=loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            return module
    raise ImportError(f"no extension module {name} under {folder}")


SIGNATURE = types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
                       types.voidptr, types.voidptr, types.intp, types.voidptr, types.intp,
                       types.voidptr, types.voidptr, types.intp)
PROVIDER = "NumPy"  # under NUMBA_DISABLE_JIT: NumPy's matmul
LINKS = ""  # the symbols compiled code calls it by, where the provider's name does not say
# xxgemm's character arguments as the integers compiled code passes: ord("s") in compiled code
# compiles Numba's unicode support, 0.15-0.2 s of each process's first compile
SINGLE, DOUBLE, NO_TRANSPOSE, TRANSPOSE = (ord(c) for c in "sdnt")

if config.DISABLE_JIT:
    xxgemm = _python_gemm
else:
    from ..blas import refresh
    from . import numpy_blas
    from .mkl import gemm_address
    from .warm import loading
    _load_scipy_blas()  # with MKL too: Numba imports it anyway, as its registries load
    with loading():
        _address = gemm_address()
    refresh()  # threadpoolctl sees the BLAS libraries loaded now
    _numpy_gemm = numpy_blas.find() if _address is None else None
    if _numpy_gemm is not None:  # NumPy's own OpenBLAS, newer and faster than SciPy's here
        PROVIDER = "NumPy's OpenBLAS"
        xxgemm = numpy_blas.register(_numpy_gemm)
        LINKS = " ".join(numpy_blas.SYMBOLS[_numpy_gemm[2]].values())
    elif _address is None:  # Numba's own helper, which calls SciPy's OpenBLAS
        PROVIDER = "SciPy's OpenBLAS"
        xxgemm = types.ExternalFunction("numba_xxgemm", SIGNATURE)
    else:
        from llvmlite import binding
        PROVIDER = "MKL"
        binding.add_symbol("graphc_mkl_xxgemm", _address)
        xxgemm = types.ExternalFunction("graphc_mkl_xxgemm", SIGNATURE)


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
