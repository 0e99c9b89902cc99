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
USE64BITINT). `xxgemm64` and `xxgemm32` are xxgemm's signature over CBLAS's, emitted into each
caller (the scalars are read from their addresses; CBLAS takes them by value): a gemm of its
own would be one more cached library to load at each warm start.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

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


XXGEMM_ARGUMENTS = ("kind", "transa", "transb", "m", "n", "k", "alpha", "a", "lda", "b", "ldb",
                   "beta", "c", "ldc")


def _gemm_calling(bits: int):
    """xxgemm (column-major, transposes as characters, alpha and beta by address) as code that
    calls CBLAS's sgemm or dgemm of `bits`-bit integers, emitted where it is called. Not a
    Numba function: one (register_jitable) was typed again for each caller's argument types,
    and a function calling it took 174-254 ms to compile, 88-97 with this."""
    @intrinsic
    def xxgemm(typingctx, kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        arguments = (kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        for t in arguments:
            if not isinstance(t, (types.Integer, types.RawPointer, types.CPointer)):
                raise TypeError(f"graphc xxgemm: an integer or a pointer, not {t}")

        def codegen(context, builder, signature, args):
            return _emit_gemm(context, builder, bits,
                              dict(zip(XXGEMM_ARGUMENTS, zip(args, signature.args))))
        return types.intc(*arguments), codegen
    return xxgemm


def _emit_gemm(context, builder, bits: int, given: dict):
    """The call of CBLAS's gemm for xxgemm's arguments (`given`: name -> (value, Numba type)):
    sgemm where kind is SINGLE, else dgemm (a branch LLVM folds where kind is a constant)."""
    word, cint, byte = ir.IntType(64), ir.IntType(32), ir.IntType(8).as_pointer()
    size = ir.IntType(bits)

    def integer(name, width=size):
        value, t = given[name]
        if isinstance(t, types.Integer):
            value = context.cast(builder, value, t, types.int64)
        else:
            value = builder.ptrtoint(value, word)
        return value if width.width == 64 else builder.trunc(value, width)

    def pointer(name):
        value, t = given[name]
        if isinstance(t, types.Integer):
            return builder.inttoptr(integer(name, word), byte)
        return builder.bitcast(value, byte)

    def transpose_flag(name):
        plain = builder.icmp_signed("==", integer(name, word), ir.Constant(word, NO_TRANSPOSE))
        return builder.select(plain, ir.Constant(cint, NO_TRANS), ir.Constant(cint, TRANS))

    single = builder.icmp_signed("==", integer("kind", word), ir.Constant(word, SINGLE))
    with builder.if_else(single) as (then, otherwise):
        for branch, scalar, kind in ((then, ir.FloatType(), "s"),
                                     (otherwise, ir.DoubleType(), "d")):
            with branch:
                gemm = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
                    ir.VoidType(), [cint, cint, cint, size, size, size, scalar, byte, size,
                                    byte, size, scalar, byte, size]), SYMBOLS[bits][kind])
                alpha, beta = (builder.load(builder.bitcast(pointer(name), scalar.as_pointer()))
                               for name in ("alpha", "beta"))
                builder.call(gemm, [
                    ir.Constant(cint, COLUMN_MAJOR), transpose_flag("transa"),
                    transpose_flag("transb"), integer("m"), integer("n"), integer("k"), alpha,
                    pointer("a"), integer("lda"), pointer("b"), integer("ldb"), beta,
                    pointer("c"), integer("ldc")])
    return ir.Constant(cint, 0)


xxgemm64 = _gemm_calling(64)
xxgemm32 = _gemm_calling(32)
