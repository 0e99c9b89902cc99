"""SIMD vectors in Numba-compiled code, for the generated matmul's micro-kernel.

A `Vector(dtype, lanes)` value is one LLVM vector (`<16 x float>`): a register of the CPU's
widest kind when `lanes * itemsize` is its width. The micro-kernel keeps its accumulators in
named vectors, which LLVM allocates to registers across the whole k loop.

Why not scalars for LLVM to vectorize: Numba's own passes over the 256 named scalar
accumulators an 8 x 32 block needs took 14 s to compile the float32 matmul module (16
vectors: under a second), and LLVM tunes recent Intel CPUs to prefer 256-bit vectors, so its
vectorizer used half the width of this machine's AVX-512 FMA units: 87 GFLOP/s on one core
against 183 with explicit 512-bit vectors (8 x 32 float32 block, measured on this machine's
Xeon, Emerald Rapids).

    splat(x, lanes)       every lane x (x's dtype)
    load(a, i, lanes)     a[i:i + lanes]
    fma(a, b, c)          a * b + c, lane by lane, one rounding
    store(a, i, v)        a[i:i + lanes] = v
    add_store(a, i, v)    a[i:i + lanes] += v
Under NUMBA_DISABLE_JIT the same calls run on NumPy arrays.
"""
from __future__ import annotations

import functools

import numpy as np
from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.core.errors import RequireLiteralValue
from numba.extending import intrinsic, models, register_model

REGISTER_BYTES_AVX512 = 64
REGISTER_BYTES = 32  # AVX2; narrower CPUs split each vector into several registers


@functools.lru_cache(maxsize=1)
def has_avx512() -> bool:
    """Whether Numba compiles for a CPU with 512-bit vector registers."""
    features = config.CPU_FEATURES
    if features is None:
        from llvmlite import binding
        binding.initialize_native_target()
        features = binding.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


def register_bytes() -> int:
    return REGISTER_BYTES_AVX512 if has_avx512() else REGISTER_BYTES


# ---- plain Python, for NUMBA_DISABLE_JIT --------------------------------------------------
def _splat(x, lanes):
    return np.full(lanes, x)


def _load(a, i, lanes):
    return a[i:i + lanes].copy()


def _fma(a, b, c):
    return a * b + c  # two roundings: the plain-Python path is for reading, not for bits


def _store(a, i, v):
    a[i:i + len(v)] = v


def _add_store(a, i, v):
    a[i:i + len(v)] += v


class Vector(types.Type):
    """A SIMD vector of `lanes` values of a Numba float type (an LLVM vector)."""

    def __init__(self, dtype, lanes):
        self.dtype, self.lanes = dtype, lanes
        super().__init__(name=f"Vector({dtype}, {lanes})")


@register_model(Vector)
class VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        scalar = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(scalar, fe_type.lanes))


def _lanes_of(lanes):
    if not isinstance(lanes, types.IntegerLiteral):
        raise RequireLiteralValue("lanes must be a constant")
    return lanes.literal_value


def _pointer(context, builder, array_type, array, index, vector_type):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())


@intrinsic
def _vector_splat(typingctx, x, lanes):
    if not isinstance(x, types.Float):
        return None
    vector = Vector(x, _lanes_of(lanes))

    def codegen(context, builder, signature, args):
        vt = context.get_value_type(vector)
        one = builder.insert_element(ir.Constant(vt, None), args[0], ir.IntType(32)(0))
        return builder.shuffle_vector(one, one, ir.Constant(
            ir.VectorType(ir.IntType(32), vector.lanes), None))  # lane 0 everywhere
    return vector(x, lanes), codegen


@intrinsic
def _vector_load(typingctx, a, i, lanes):
    vector = Vector(a.dtype, _lanes_of(lanes))

    def codegen(context, builder, signature, args):
        vt = context.get_value_type(vector)
        return builder.load(_pointer(context, builder, a, args[0], args[1], vt),
                            align=a.dtype.bitwidth // 8)
    return vector(a, i, lanes), codegen


@intrinsic
def _vector_fma(typingctx, a, b, c):
    if not (isinstance(a, Vector) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        vt = context.get_value_type(a)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]),
                                            f"llvm.fma.v{a.lanes}f{a.dtype.bitwidth}")
        return builder.call(fn, args)
    return a(a, b, c), codegen


@intrinsic
def _vector_store(typingctx, a, i, v):
    if not isinstance(v, Vector):
        return None

    def codegen(context, builder, signature, args):
        at = _pointer(context, builder, a, args[0], args[1], context.get_value_type(v))
        builder.store(args[2], at, align=a.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(a, i, v), codegen


@intrinsic
def _vector_add_store(typingctx, a, i, v):
    if not isinstance(v, Vector):
        return None

    def codegen(context, builder, signature, args):
        vt = context.get_value_type(v)
        at = _pointer(context, builder, a, args[0], args[1], vt)
        align = a.dtype.bitwidth // 8
        builder.store(builder.fadd(builder.load(at, align=align), args[2]), at, align=align)
        return context.get_dummy_value()
    return types.none(a, i, v), codegen


if config.DISABLE_JIT:
    splat, load, fma, store, add_store = _splat, _load, _fma, _store, _add_store
else:
    splat, load, fma, store, add_store = (_vector_splat, _vector_load, _vector_fma,
                                          _vector_store, _vector_add_store)
