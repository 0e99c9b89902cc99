"""erf and exp in float64 code that LLVM vectorizes: what a float32 kernel computing erf (GELU
and its gradient) or exp (a softmax) calls, so that its loop runs on vectors.

libm's erf and exp are calls LLVM cannot vectorize (llvmlite has no vector math library), so
a loop calling them runs one element at a time: a GELU over 262,144 float32 took 2.4 ms here
on one thread (5.3 ms where erf takes its slow path). These are straight-line float64
arithmetic, every branch a select, each polynomial a chain of fused multiply-adds (`fma`):
LLVM runs the loop on 8 doubles at a time (AVX-512), and the GELU takes 0.74 ms.

- `exp64(x)`: x = k ln2 + r, |r| <= ln2/2 (ln2 in two parts, so k ln2 is exact), e^r by its
  Taylor series to r^13 (error under 2e-16 relative), times 2^k made from its bits.
- `erf64(x)`: for |x| <= 1, its Taylor series to x^33 (error under 1e-16); for 1 < |x| < 4,
  1 - e^(-x^2) erfcx(|x|), erfcx (= e^(x^2) erfc(x)) a polynomial of degree 22 on [1, 4]
  (ERFCX_POWERS); relative error under 2e-14 (tests/backend/test_cpu_vmath.py measures it
  against mpmath). For |x| >= 4, +-1: 1 - erf(4) = 1.5e-8 is under half a float32 ulp of 1,
  so a float32 result is exactly what a correctly rounded erf gives. This erf is for float32
  results only.

A float32 result rounded from these float64 values equals the correctly rounded one unless
the exact value lies within about 1e-14 relative of a rounding boundary.

Each is written once (`exp_steps`, `erf_steps`) over a set of operations, and run two ways: in
compiled code as an intrinsic that emits the steps as LLVM instructions where it is called
(`_Instructions`), and under NUMBA_DISABLE_JIT as Python on floats (`_Floats`). They had been
Numba functions inlined into each caller (inline="always"), which Numba typed and lowered
again at every call: a GELU kernel took 1.66 s to compile, 0.61 with libm's erf, and the
tiny transformer has five such kernels.
"""
from __future__ import annotations

import math

import numpy as np
from numba import config, types

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k * LN2_HI is exact for |k| < 2^20
LN2_LO = 1.90821492927058770002e-10  # the rest of ln 2
EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))  # highest power first
# erf(x) / x = sum 2/sqrt(pi) (-1)^n / (n! (2n + 1)) x^(2n), highest power first
ERF_TAYLOR = tuple(2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1))
                   for n in range(16, -1, -1))
# erfcx(x) on [1, 4] = sum c_j t^j, t = (x - 2.5) / 1.5: a Chebyshev series of degree 22
# interpolating erfcx at the Chebyshev nodes (values from mpmath, 40 digits; numpy's chebfit),
# converted to powers of t (numpy's cheb2poly), which costs one multiply-add per term
ERFCX_POWERS = (
    0.21080636406114342,
    -0.11152102018469404,
    0.056110493445025264,
    -0.02700529666453947,
    0.012489373877463185,
    -0.005570706179518776,
    0.002403647719617696,
    -0.0010058314466369733,
    0.00040908455648064687,
    -0.0001620117227385695,
    6.258076166266905e-05,
    -2.3609609345509377e-05,
    8.707139242000564e-06,
    -3.14729385508176e-06,
    1.1219656987376966e-06,
    -3.8621584135557154e-07,
    1.2233104386736024e-07,
    -4.519628189571934e-08,
    2.202295974169674e-08,
    -3.967789467065792e-09,
    -1.8040714484397657e-09,
    -7.841310203799268e-10,
    8.141698922926945e-10,
)


def _horner(o, x, coefficients):
    """The polynomial `coefficients` (highest power first) at `x`, by second-order Horner:
    its even and odd powers as two chains in x^2, each step one fused multiply-add, which
    halves the chain a vector waits on. (A loop over a tuple of coefficients, even one Numba
    unrolls, compiled to code that did not vectorize, 6x slower.)"""
    low_first = list(coefficients)[::-1]
    x2 = o.mul(x, x)
    chains = []
    for terms in (low_first[0::2], low_first[1::2]):
        terms = terms[::-1]  # highest first again
        value = o.const(terms[0])
        for c in terms[1:]:
            value = o.fma(value, x2, o.const(c))
        chains.append(value)
    even, odd = chains
    return o.fma(odd, x, even)


def exp_steps(o, x):
    """e^x for a float64 x, in the operations of `o`."""
    k = o.rint(o.mul(x, o.const(LOG2E)))
    k = o.min(o.max(k, o.const(-1020.0)), o.const(1020.0))  # 2^k stays a normal number
    r = o.sub(o.sub(x, o.mul(k, o.const(LN2_HI))), o.mul(k, o.const(LN2_LO)))
    y = o.mul(_horner(o, r, EXP_TAYLOR), o.two_to(k))  # e^r by its Taylor series to r^13
    y = o.where(o.gt(x, o.const(709.78)), o.const(math.inf), y)
    y = o.where(o.lt(x, o.const(-708.0)), o.const(0.0), y)  # below: under float64's normals
    return o.where(o.isnan(x), x, y)


def erf_steps(o, x):
    """erf(x) for a float64 x, to be rounded to float32, in the operations of `o`."""
    ax = o.abs(x)
    z = o.mul(x, x)  # exact for a float32 x
    near = o.mul(x, _horner(o, z, ERF_TAYLOR))  # |x| <= 1: x times its Taylor series in x^2
    t = o.mul(o.sub(ax, o.const(2.5)), o.const(2.0 / 3.0))
    h = _horner(o, t, ERFCX_POWERS[::-1])  # 1 < |x| < 4: erfcx(|x|), a polynomial in t
    far = o.sub(o.const(1.0), o.mul(exp_steps(o, o.neg(z)), h))
    positive = o.gt(x, o.const(0.0))
    far = o.where(positive, far, o.neg(far))
    r = o.where(o.le(ax, o.const(1.0)), near, far)
    r = o.where(o.ge(ax, o.const(4.0)), o.where(positive, o.const(1.0), o.const(-1.0)), r)
    return o.where(o.isnan(x), x, r)


class _Floats:
    """The operations on Python floats (NUMBA_DISABLE_JIT). Python before 3.13 has no fused
    multiply-add: rounded twice here."""

    const = staticmethod(float)
    mul = staticmethod(lambda a, b: a * b)
    sub = staticmethod(lambda a, b: a - b)
    fma = staticmethod(lambda a, b, c: a * b + c)
    neg = staticmethod(lambda a: -a)
    abs = staticmethod(abs)
    rint = staticmethod(lambda a: float(np.rint(a)))
    max = staticmethod(lambda a, b: b if b > a else a)  # Python's max(a, b)
    min = staticmethod(lambda a, b: b if b < a else a)
    gt = staticmethod(lambda a, b: a > b)
    lt = staticmethod(lambda a, b: a < b)
    le = staticmethod(lambda a, b: a <= b)
    ge = staticmethod(lambda a, b: a >= b)
    isnan = staticmethod(math.isnan)
    where = staticmethod(lambda c, a, b: a if c else b)

    @staticmethod
    def two_to(k):
        """2^k for an integral k in [-1020, 1020], from its bits."""
        if math.isnan(k):
            return math.nan
        return float(np.int64((int(k) + 1023) << 52).view(np.float64))


class _Instructions:
    """The operations as LLVM instructions at `builder`'s position: Python's semantics for
    comparisons (ordered: false for NaN) and max and min, no fast-math flags (a multiply and
    an add stay two roundings, as Numba compiles them), `fma` LLVM's fused multiply-add."""

    def __init__(self, builder):
        from llvmlite import ir
        self.b, self.double = builder, ir.DoubleType()
        self.ir = ir

    def _intrinsic(self, name, *args):
        fnty = self.ir.FunctionType(self.double, [self.double] * len(args))
        fn = self.b.module.declare_intrinsic(name, [self.double], fnty)
        return self.b.call(fn, args)

    def const(self, v):
        return self.ir.Constant(self.double, float(v))

    def mul(self, a, b):
        return self.b.fmul(a, b)

    def sub(self, a, b):
        return self.b.fsub(a, b)

    def fma(self, a, b, c):
        return self._intrinsic("llvm.fma", a, b, c)

    def neg(self, a):
        return self.b.fneg(a)

    def abs(self, a):
        return self._intrinsic("llvm.fabs", a)

    def rint(self, a):
        return self._intrinsic("llvm.rint", a)

    def max(self, a, b):
        return self.b.select(self.b.fcmp_ordered(">", b, a), b, a)

    def min(self, a, b):
        return self.b.select(self.b.fcmp_ordered("<", b, a), b, a)

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", a, b)

    def lt(self, a, b):
        return self.b.fcmp_ordered("<", a, b)

    def le(self, a, b):
        return self.b.fcmp_ordered("<=", a, b)

    def ge(self, a, b):
        return self.b.fcmp_ordered(">=", a, b)

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def where(self, c, a, b):
        return self.b.select(c, a, b)

    def two_to(self, k):
        i64 = self.ir.IntType(64)
        bits = self.b.shl(self.b.add(self.b.fptosi(k, i64), i64(1023)), i64(52))
        return self.b.bitcast(bits, self.double)


if config.DISABLE_JIT:
    def exp64(x):
        """e^x for a float64 x."""
        return exp_steps(_Floats, float(x))

    def erf64(x):
        """erf(x) for a float64 x, to be rounded to float32."""
        return erf_steps(_Floats, float(x))
else:
    from numba.extending import intrinsic

    def _emitting(steps, doc):
        def typer(typingctx, x):
            def codegen(context, builder, signature, args):
                return steps(_Instructions(builder), args[0])
            return types.float64(types.float64), codegen
        typer.__doc__ = doc
        return intrinsic(typer)

    exp64 = _emitting(exp_steps, "e^x for a float64 x (its steps inlined as instructions).")
    erf64 = _emitting(erf_steps, "erf(x) for a float64 x, to be rounded to float32.")
