"""graphc/backend/numba/vmath.py's erf and exp against mpmath (40 digits): their float64
error, what a float32 result rounded from them is, the special values, the coefficients'
digits, the plain-Python steps (NUMBA_DISABLE_JIT) against the compiled ones; and a GELU and
its gradient compiled with them against the reference."""
import math

import mpmath
import numpy as np
import pytest
from numba import njit

import graphc as gc
from graphc.backend.numba import vmath
from graphc.backend.numba.vmath import erf64, exp64

mpmath.mp.dps = 40
RNG = np.random.default_rng(11)


@njit
def _compiled(xs):
    """erf64 and exp64 of each of xs, in compiled code (they are its intrinsics)."""
    erf, exp = np.empty_like(xs), np.empty_like(xs)
    for i in range(xs.size):
        erf[i] = erf64(xs[i])
        exp[i] = exp64(xs[i])
    return erf, exp


def erf_of(xs):
    return _compiled(np.asarray(xs, np.float64))[0]


def exp_of(xs):
    return _compiled(np.asarray(xs, np.float64))[1]


def float32_grid(lo, hi, n):
    """n float32 values spread over [lo, hi], and n drawn at random there."""
    return np.unique(np.concatenate([np.linspace(lo, hi, n), RNG.uniform(lo, hi, n)])
                     .astype(np.float32)).astype(np.float64)


def test_erf64_is_within_2e_14_of_erf_below_4_and_rounds_to_float32_as_erf_does():
    xs = float32_grid(-4.5, 4.5, 20000)
    exact = [mpmath.erf(mpmath.mpf(float(x))) for x in xs]
    got = erf_of(xs)
    below = np.abs(xs) < 4
    rel = [abs((mpmath.mpf(g) - e) / e) for g, e, b in zip(got, exact, below) if b and e != 0]
    assert float(max(rel)) < 2e-14
    # a float32 result rounded from it is the correctly rounded erf, but for values within
    # its error of a rounding boundary: at most one ulp, and rarely
    want32 = np.array([float(e) for e in exact], np.float32)
    ulps = np.abs(got.astype(np.float32).view(np.int32).astype(np.int64) -
                  want32.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1 and (ulps > 0).sum() <= 2


def test_exp64_is_within_3e_16_of_exp():
    xs = np.concatenate([np.linspace(-700, 700, 4001), RNG.uniform(-40, 40, 4000),
                         [-1e-300, 0.0, 1e-300, 0.5, -0.5]])
    worst = max(abs(float((mpmath.mpf(e) - mpmath.exp(mpmath.mpf(x))) /
                          mpmath.exp(mpmath.mpf(x)))) for x, e in zip(xs, exp_of(xs)))
    assert worst < 3e-16


@pytest.mark.parametrize("x, erf, exp", [
    (0.0, 0.0, 1.0), (-0.0, -0.0, 1.0), (math.inf, 1.0, math.inf), (-math.inf, -1.0, 0.0),
    (710.0, 1.0, math.inf), (-746.0, -1.0, 0.0), (-720.0, -1.0, 0.0), (1e-310, None, 1.0)])
def test_special_values(x, erf, exp):
    (got_erf, got_exp), = zip(*_compiled(np.array([x])))
    if erf is not None:
        assert got_erf == erf and math.copysign(1, got_erf) == math.copysign(1, erf)
    assert got_exp == exp
    assert np.isnan(_compiled(np.array([math.nan]))).all()
    assert erf_of([1e-310])[0] == pytest.approx(2 / math.sqrt(math.pi) * 1e-310, rel=1e-15)
    # the same steps in plain Python (NUMBA_DISABLE_JIT), the same special values
    floats = vmath._Floats
    if erf is not None:
        assert vmath.erf_steps(floats, x) == erf
    assert vmath.exp_steps(floats, x) == exp
    assert math.isnan(vmath.erf_steps(floats, math.nan))


def test_the_plain_python_steps_equal_the_compiled_ones():
    # one description, two ways to run it: they differ only where Python rounds a
    # multiply-add twice (it has no fused one before 3.13)
    xs = np.concatenate([np.linspace(-5, 5, 2001), np.linspace(-700, 700, 2001)])
    erf, exp = _compiled(xs)
    np.testing.assert_allclose([vmath.erf_steps(vmath._Floats, x) for x in xs], erf,
                               rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose([vmath.exp_steps(vmath._Floats, x) for x in xs], exp,
                               rtol=1e-14, atol=1e-300)


def test_the_coefficients_are_the_series_they_say():
    exp_terms = [mpmath.mpf(1) / mpmath.factorial(n) for n in range(13, -1, -1)]
    erf_terms = [2 / mpmath.sqrt(mpmath.pi) * (-1) ** n / (mpmath.factorial(n) * (2 * n + 1))
                 for n in range(16, -1, -1)]
    for got, want in ((vmath.EXP_TAYLOR, exp_terms), (vmath.ERF_TAYLOR, erf_terms)):
        assert len(got) == len(want)
        assert all(abs(g - float(w)) <= 5e-16 * abs(float(w)) for g, w in zip(got, want))
    # the powers are the Chebyshev interpolant of erfcx at its nodes, converted: the polynomial
    # takes erfcx's values there. (Not its coefficients against a refit: a degree-22 fit in
    # powers is ill-conditioned, and a refit on another CPU's BLAS moved them by 8e-10 while
    # the polynomial stayed within 1e-14.)
    from numpy.polynomial import polynomial
    t = np.cos(np.pi * (np.arange(23) + 0.5) / 23)
    values = [float(mpmath.erfc(mpmath.mpf(v)) * mpmath.exp(mpmath.mpf(v) ** 2))
              for v in (t + 1) / 2 * 3.0 + 1.0]
    np.testing.assert_allclose(polynomial.polyval(t, vmath.ERFCX_POWERS), values, rtol=2e-14)


@pytest.fixture(scope="module")
def gelu_functions():
    x = gc.tensor("x", ("B",))
    outputs = [gc.gelu(x), gc.grad(gc.sum(gc.gelu(x) * 1.5), [x])[0]]
    return gc.compile(outputs, backend="cpu"), gc.compile(outputs, backend="reference")


@pytest.mark.parametrize("n", [0, 7, 70000])  # empty, and split across threads from 2^16
def test_gelu_and_its_gradient_with_vmath_equal_the_reference(gelu_functions, n):
    cpu, reference = gelu_functions
    assert "erf64(" in cpu.source and "exp64(" in cpu.source
    x = (RNG.standard_normal(n) * 3).astype(np.float32)
    x[:min(n, 8)] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 3e38, -3e38, 1e-40][:min(n, 8)]
    with np.errstate(all="ignore"):
        got, want = cpu(x=x), reference(x=x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-7, equal_nan=True)


def test_an_exp_kernel_uses_vmath_and_one_with_a_libm_call_does_not():
    x = gc.tensor("x", ("B",))
    vector, scalar = gc.exp(x) * 2.0, gc.log(1.0 + gc.exp(x))  # a log keeps the loop scalar
    v = np.concatenate([(RNG.standard_normal(5000) * 30).astype(np.float32),
                        np.array([np.nan, np.inf, -np.inf, -0.0, 88.7, 89.0, -104.0, -87.0],
                                 np.float32)])
    for y, uses in ((vector, True), (scalar, False)):
        cpu = gc.compile(y, backend="cpu")
        assert ("exp64(" in cpu.source) == uses
        with np.errstate(all="ignore"):
            got, want = cpu(x=v)[0], gc.compile(y, backend="reference")(x=v)[0]
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=0, equal_nan=True)
