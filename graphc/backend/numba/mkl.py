"""Intel's MKL as the BLAS that generated code calls, where it is installed (`pip install mkl`,
or graphc's `mkl` extra); OpenBLAS otherwise (NumPy's own, else SciPy's: blas.py).

Why: on this 2-core Xeon (2026-11-30) the big MLP step's five products took 2.52-2.68 ms on
MKL's two threads against 3.3 ms for OpenBLAS, even split into blocks on Numba's threads
(graphc's fastest way with OpenBLAS: its own threads took 0.78 ms where MKL's took 0.68 on the
256x512x784 product). The step went from 3.65 to 3.05-3.1 ms. One thread of each is within 2-7%
of the other: the difference is how MKL splits a product across threads.

GRAPHC_BLAS=openblas keeps OpenBLAS where MKL is installed; GRAPHC_BLAS=mkl insists on MKL (an
error naming what is missing, where it is not). The choice is made once per process, here;
the library is part of every generated module's name (blas.py, driver.py)."""
from __future__ import annotations

import ctypes
import glob
import os
import sys

ENV = "GRAPHC_BLAS"
CHOICES = ("mkl", "openblas")


def wanted() -> str | None:
    """GRAPHC_BLAS, checked: "mkl", "openblas" or None (MKL where it is installed)."""
    value = os.environ.get(ENV, "").strip().lower() or None
    if value not in (None, *CHOICES):
        raise ValueError(f"{ENV}={os.environ[ENV]!r}: it is one of {', '.join(CHOICES)} "
                         f"(or unset: MKL where it is installed, else OpenBLAS)")
    return value


# MKL's single library by the names the system's loader finds (its own search path)
SONAMES = ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.dylib", "mkl_rt.2.dll")


def library_path() -> str | None:
    """MKL's single dynamic library (mkl_rt), where pip's `mkl` wheel puts it or on the
    system's library path; None if there is none. The system's loader is asked directly:
    ctypes.util.find_library runs ldconfig and a compiler, 12-14 ms of every process start
    where MKL is not installed."""
    roots = {sys.prefix, sys.base_prefix}
    for root in roots:
        for pattern in ("lib/libmkl_rt.so*", "lib/libmkl_rt*.dylib", "Library/bin/mkl_rt*.dll"):
            found = sorted(glob.glob(os.path.join(root, pattern)))
            if found:
                return found[-1]
    for name in SONAMES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return name
    return None


def load_library() -> str:
    """Load MKL's library for generated code to link to (its path); ImportError where it is
    not installed."""
    path = library_path()
    if path is None:
        raise ImportError("MKL's library (libmkl_rt) is not installed: pip install mkl")
    from llvmlite import binding
    binding.load_library_permanently(path)
    return path


def gemm_address() -> int | None:
    """The address of a gemm with Numba's `numba_xxgemm` signature that runs MKL's, once MKL
    is loaded; None where OpenBLAS is to run (GRAPHC_BLAS=openblas, or no MKL installed)."""
    choice = wanted()
    if choice == "openblas":
        return None
    path = library_path()
    if path is None:
        if choice == "mkl":
            raise ImportError(f"{ENV}=mkl, but MKL's library (libmkl_rt) is not installed: "
                              f"pip install mkl (or graphc's extra: pip install 'graphc[mkl]')")
        return None
    try:
        from . import mkl_gemm  # loads the library first
        return mkl_gemm.address()
    except Exception as error:  # noqa: BLE001 (a broken install must not stop graphc)
        if choice == "mkl":
            raise ImportError(f"{ENV}=mkl, but MKL at {path} failed to load: {error}") from error
        return None
