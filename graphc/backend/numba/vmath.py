"""erf and exp in float64 code that LLVM vectorizes: what a float32 kernel computing erf (GELU
and its gradient) calls, so that its loop runs on vectors.

libm's erf and exp are calls LLVM cannot vectorize (llvmlite has no vector math library), so
a loop calling them runs one element at a time: a GELU over 262,144 float32 took 2.4 ms here
on one thread (5.3 ms where erf takes its slow path). These are straight-line float64
arithmetic, inlined into the kernel (Numba's inline="always"), every branch a select, each
polynomial a chain of fused multiply-adds (`fma`): LLVM runs the loop on 8 doubles at a time
(AVX-512), and the GELU takes 0.74 ms.

- `exp64(x)`: x = k ln2 + r, |r| <= ln2/2 (ln2 in two parts, so k ln2 is exact), e^r by its
  Taylor series to r^13 (error under 2e-16 relative), times 2^k made from its bits.
- `erf64(x)`: for |x| <= 1, its Taylor series to x^33 (error under 1e-16); for 1 < |x| < 4,
  1 - e^(-x^2) erfcx(|x|), erfcx (= e^(x^2) erfc(x)) a polynomial of degree 22 on [1, 4]
  (ERFCX_POWERS); relative error under 2e-14 (tests/backend/test_cpu_vmath.py measures it
  against mpmath). For |x| >= 4, +-1: 1 - erf(4) = 1.5e-8 is under half a float32 ulp of 1,
  so a float32 result is exactly what a correctly rounded erf gives. This erf is for float32
  results only.

A float32 result rounded from these float64 values equals the correctly rounded one unless
the exact value lies within about 1e-14 relative of a rounding boundary. Their source, with
each polynomial written out term by term, is `SOURCE`. Under NUMBA_DISABLE_JIT they run as the
same Python.
"""
from __future__ import annotations

import math

import numpy as np
from numba import config, njit, types
from llvmlite import ir
from numba.extending import intrinsic

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

if config.DISABLE_JIT:
    def _from_bits(bits):
        return float(np.int64(bits).view(np.float64))

    def fma(a, b, c):
        return a * b + c  # Python (before 3.13) has no fused multiply-add: rounded twice
else:
    @intrinsic
    def _from_bits(typingctx, bits):
        """The float64 whose bits are the int64 `bits`."""
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(types.float64))
        return types.float64(types.int64), codegen

    @intrinsic
    def fma(typingctx, a, b, c):
        """a * b + c rounded once (LLVM's fma, which vectorizes). Numba never fuses a multiply
        and an add itself (that would change results): a polynomial here asks for it."""
        def codegen(context, builder, signature, args):
            double = context.get_value_type(types.float64)
            fn = builder.module.declare_intrinsic(
                "llvm.fma", [double], ir.FunctionType(double, [double, double, double]))
            return builder.call(fn, args)
        return types.float64(types.float64, types.float64, types.float64), codegen


def _horner(name: str, x: str, coefficients) -> str:
    """Lines computing the polynomial `coefficients` (highest power first) at `x` into `name`
    by second-order Horner: its even and odd powers as two chains in x^2, each step one
    fused multiply-add, which halves the chain a vector waits on. Written out: a loop over a
    tuple of coefficients (even one Numba unrolls) compiled to code that did not vectorize,
    6x slower."""
    low_first = list(coefficients)[::-1]
    lines = [f"    {name}_x2 = {x} * {x}"]
    for part, terms in (("even", low_first[0::2]), ("odd", low_first[1::2])):
        terms = terms[::-1]  # highest first again
        lines.append(f"    {name}_{part} = {terms[0]!r}")
        lines += [f"    {name}_{part} = fma({name}_{part}, {name}_x2, {c!r})" for c in terms[1:]]
    lines.append(f"    {name} = fma({name}_odd, {x}, {name}_even)")
    return "\n".join(lines)


# The two functions' source, their polynomials written out (print(SOURCE) shows them whole)
SOURCE = f'''
@njit(inline="always", error_model="numpy")
def exp64(x):
    """e^x for a float64 x."""
    k = np.rint(x * LOG2E)
    k = min(max(k, -1020.0), 1020.0)  # 2^k stays a normal number (the ends are set below)
    r = (x - k * LN2_HI) - k * LN2_LO
    # its Taylor series to r^13
{_horner("p", "r", EXP_TAYLOR)}
    y = p * _from_bits((np.int64(k) + 1023) << 52)
    y = math.inf if x > 709.78 else y
    y = 0.0 if x < -708.0 else y  # below, e^x is under float64's normal range (float32: 0)
    return x if x != x else y


@njit(inline="always", error_model="numpy")
def erf64(x):
    """erf(x) for a float64 x, to be rounded to float32."""
    ax = abs(x)
    z = x * x  # exact for a float32 x
    # |x| <= 1: x times its Taylor series in x^2, to x^33
{_horner("s", "z", ERF_TAYLOR)}
    near = x * s
    # 1 < |x| < 4: erfcx(|x|), a polynomial in t (ERFCX_POWERS)
    t = (ax - 2.5) * (2.0 / 3.0)
{_horner("h", "t", ERFCX_POWERS[::-1])}
    far = 1.0 - exp64(-z) * h
    far = far if x > 0.0 else -far
    r = near if ax <= 1.0 else far
    r = (1.0 if x > 0.0 else -1.0) if ax >= 4.0 else r
    return x if x != x else r
'''
exec(compile(SOURCE, f"{__file__} (SOURCE)", "exec"))
