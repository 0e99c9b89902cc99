"""Elementwise ops: forward against NumPy (with broadcasting, Python scalars, 0-d tensors)
and gradients against finite differences. Mirrors graphc/ops/elementwise.py."""
import math

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.ops import elementwise as ew
from special_graphs import REPEATING_FEED, repeating_formula

RNG = np.random.default_rng(0)


def run(outputs, **feeds):
    return gc.compile(outputs)(**feeds)


def _sigmoid(a):
    with np.errstate(over="ignore"):  # exp(1000) = inf gives the right limit, 0
        return 1.0 / (1.0 + np.exp(-a))


def _gelu(a):
    return a / 2 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))


# name, graphc function, NumPy function, input sampler (keeps log/sqrt in their domain)
UNARY = [
    ("neg", gc.neg, np.negative, lambda s: RNG.standard_normal(s)),
    ("exp", gc.exp, np.exp, lambda s: RNG.standard_normal(s)),
    ("log", gc.log, np.log, lambda s: RNG.uniform(0.5, 3.0, s)),
    ("sqrt", gc.sqrt, np.sqrt, lambda s: RNG.uniform(0.5, 3.0, s)),
    ("tanh", gc.tanh, np.tanh, lambda s: RNG.standard_normal(s)),
    ("sigmoid", gc.sigmoid, _sigmoid, lambda s: RNG.standard_normal(s) * 3),
    # keep relu's samples away from its kink at 0, where finite differences are meaningless
    ("relu", gc.relu, lambda a: np.maximum(a, 0),
     lambda s: RNG.choice([-1, 1], s) * RNG.uniform(0.2, 2.0, s)),
    ("gelu", gc.gelu, _gelu, lambda s: RNG.standard_normal(s)),
]


@pytest.mark.parametrize("name,f,ref,sample", UNARY, ids=[u[0] for u in UNARY])
def test_unary_forward_matches_numpy(name, f, ref, sample):
    x = gc.tensor("x", (3, 4))
    a = sample((3, 4)).astype(np.float32)
    out = run(f(x), x=a)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    np.testing.assert_allclose(out, ref(a.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,f,ref,sample", UNARY, ids=[u[0] for u in UNARY])
def test_unary_gradient_matches_finite_differences(name, f, ref, sample):
    x = gc.tensor("x", (3, 4), dtype="float64")
    errs = gc.check_grad(gc.sum(f(x)), [x], {"x": sample((3, 4))})
    assert set(errs) == {"x"} and errs["x"] < 1e-6


BINARY = [
    ("add", gc.add, np.add),
    ("sub", gc.sub, np.subtract),
    ("mul", gc.mul, np.multiply),
    ("div", gc.div, np.divide),
    ("pow", gc.pow, np.power),
]
# NumPy broadcasting cases, including 0-d tensors
SHAPE_PAIRS = [((3, 4), (4,)), ((3, 1), (1, 4)), ((4,), (3, 4)), ((2, 3, 4), (3, 1)),
               ((), (3, 4)), ((3, 4), ()), ((), ()), ((5,), (5,))]


def _positive(shape):
    return RNG.uniform(0.5, 2.0, shape)


def _away_from_zero(shape):
    """Either sign, but never near 0 (a divisor; a finite difference across a pole fails)."""
    return RNG.choice([-1.0, 1.0], shape) * RNG.uniform(0.5, 2.0, shape)


@pytest.mark.parametrize("name,f,ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS, ids=str)
def test_binary_forward_broadcasts_like_numpy(name, f, ref, sa, sb):
    a, b = gc.tensor("a", sa, "float64"), gc.tensor("b", sb, "float64")
    va, vb = _positive(sa), _away_from_zero(sb)
    node = f(a, b)
    out = run(node, a=va, b=vb)
    expected = ref(va, vb)
    assert node.shape == np.shape(expected) == out.shape  # inferred while building
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("name,f,ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS[:5], ids=str)
def test_binary_gradients_reduce_broadcast_axes(name, f, ref, sa, sb):
    a, b = gc.tensor("a", sa, "float64"), gc.tensor("b", sb, "float64")
    # a weighted sum, so each output element's gradient differs
    w = gc.constant(RNG.standard_normal(np.broadcast_shapes(sa, sb)), dtype="float64")
    loss = gc.sum(f(a, b) * w)
    errs = gc.check_grad(loss, [a, b], {"a": _positive(sa), "b": _away_from_zero(sb)})
    assert errs["a"] < 1e-5 and errs["b"] < 1e-5
    ga, gb = gc.grad(loss, [a, b])
    assert ga.shape == a.shape and gb.shape == b.shape


@pytest.mark.parametrize("expr,ref", [
    (lambda x: 2.0 * x, lambda a: 2.0 * a),
    (lambda x: x * 2, lambda a: a * 2),
    (lambda x: 1 - x, lambda a: 1 - a),
    (lambda x: x - 1.5, lambda a: a - 1.5),
    (lambda x: 3 / x, lambda a: 3 / a),
    (lambda x: x / 4, lambda a: a / 4),
    (lambda x: x ** 2, lambda a: a ** 2),
    (lambda x: 2 ** x, lambda a: 2 ** a),
    (lambda x: x ** 0.5, lambda a: a ** 0.5),
    (lambda x: -x + 1, lambda a: -a + 1),
    (lambda x: np.float64(3.0) * x, lambda a: 3.0 * a),
    (lambda x: np.array(2.0) + x, lambda a: 2.0 + a),
], ids=["2.0*x", "x*2", "1-x", "x-1.5", "3/x", "x/4", "x**2", "2**x", "x**0.5", "-x+1",
        "np.float64*x", "0d-array+x"])
def test_python_scalars_combine_with_tensors(expr, ref):
    x = gc.tensor("x", (2, 3))
    a = _positive((2, 3)).astype(np.float32)
    node = expr(x)
    assert node.dtype == "float32"  # a Python / NumPy scalar is weak, as in NumPy
    out = run(node, x=a)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref(a.astype(np.float64)), rtol=1e-6)
    x64 = gc.tensor("x", (2, 3), "float64")
    errs = gc.check_grad(gc.sum(expr(x64)), [x64], {"x": a.astype(np.float64)})
    assert errs["x"] < 1e-6


def test_python_number_folds_into_one_node():
    x = gc.tensor("x", (3,))
    y = 2.0 * x
    assert y.op == "elementwise" and y.inputs == (x,)
    assert y.attrs["body"].lines() == ["t1 = 2.0 * x0", "return t1"]


def test_array_operand_becomes_a_constant_and_promotes_like_numpy():
    x = gc.tensor("x", (3,))
    c = np.array([1.0, 2.0, 3.0])  # float64, as NumPy: float32 + float64 array -> float64
    y = x + c
    assert y.dtype == "float64"
    np.testing.assert_allclose(run(y, x=np.ones(3, np.float32)), [2.0, 3.0, 4.0])


def test_dtype_promotion_between_tensors():
    a, b = gc.tensor("a", (2,), "float32"), gc.tensor("b", (2,), "float64")
    assert (a + b).dtype == "float64" and (a * a).dtype == "float32"
    out = run(a + b, a=np.ones(2, np.float32), b=np.full(2, 0.5))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.5, 1.5])


def test_zero_dim_tensors():
    s = gc.tensor("s", ())
    x = gc.tensor("x", (3,))
    f = gc.compile([s * 3 + 1, s * x])
    r0, r1 = f(s=np.float32(2.0), x=np.arange(3, dtype=np.float32))
    assert r0.shape == () and float(r0) == 7.0 and r0.dtype == np.float32
    np.testing.assert_array_equal(r1, [0.0, 2.0, 4.0])
    # a Python float for a 0-d input is read as a 0-d array
    assert gc.compile(s * 3 + 1)(s=2.0).shape == ()


def test_sigmoid_is_finite_for_large_inputs():
    x = gc.tensor("x", (4,), "float64")
    a = np.array([-1000.0, -30.0, 30.0, 1000.0])
    f = gc.compile([gc.sigmoid(x), gc.grad(gc.sum(gc.sigmoid(x)), x)])
    s, g = f(x=a)
    np.testing.assert_allclose(s, _sigmoid(a), atol=1e-15)
    np.testing.assert_allclose(g, _sigmoid(a) * (1 - _sigmoid(a)), atol=1e-15)
    assert np.all(np.isfinite(g))


def test_astype_converts_and_passes_gradients():
    x = gc.tensor("x", (3,), "float32")
    y = gc.astype(x, "float64")
    assert y.dtype == "float64" and gc.astype(x, "float32") is x
    gx = gc.grad(gc.sum(y * y), x)
    assert gx.dtype == "float32"
    a = np.array([1.0, -2.0, 0.5], np.float32)
    out, g = gc.compile([y, gx])(x=a)
    assert out.dtype == np.float64 and g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * a)
    i = gc.tensor("i", (3,), "int64")
    np.testing.assert_array_equal(run(gc.astype(i, "float32"), i=np.array([1, 2, 3])),
                                  np.array([1.0, 2.0, 3.0], np.float32))


# ---- gc.elementwise: user ops from a sympy body ------------------------------------------
GELU_BODY = lambda x: x / 2 * (1 + sympy.erf(x / sympy.sqrt(2)))  # noqa: E731 (the issue's)


def test_user_elementwise_gelu_forward_and_gradient():
    gelu = gc.elementwise(GELU_BODY)
    x = gc.tensor("x", (4, 5), "float64")
    a = RNG.standard_normal((4, 5)) * 2
    out = run(gelu(x), x=a)
    np.testing.assert_allclose(out, _gelu(a), rtol=1e-12, atol=1e-15)
    # the derivative comes from sympy: Φ(x) + x φ(x)
    phi = np.exp(-a ** 2 / 2) / math.sqrt(2 * math.pi)
    cdf = (1 + np.vectorize(math.erf)(a / math.sqrt(2))) / 2
    g = run(gc.grad(gc.sum(gelu(x)), x), x=a)
    np.testing.assert_allclose(g, cdf + a * phi, rtol=1e-10, atol=1e-15)
    assert gc.check_grad(gc.sum(gelu(x)), [x], {"x": a})["x"] < 1e-6
    # the built-in gelu is the same expression
    np.testing.assert_allclose(run(gc.gelu(x), x=a), out, rtol=1e-12)


def test_user_elementwise_binary_with_name_and_scalar():
    smooth_max = gc.elementwise(lambda x, y: sympy.log(sympy.exp(x) + sympy.exp(y)),
                                "smooth_max")
    a, b = gc.tensor("a", (3, 1), "float64"), gc.tensor("b", (4,), "float64")
    va, vb = RNG.standard_normal((3, 1)), RNG.standard_normal(4)
    y = smooth_max(a, b)
    assert y.shape == (3, 4) and y.attrs["body"].name == "smooth_max"
    np.testing.assert_allclose(run(y, a=va, b=vb), np.logaddexp(va, vb), rtol=1e-12)
    errs = gc.check_grad(gc.sum(y * y), [a, b], {"a": va, "b": vb})
    assert max(errs.values()) < 1e-6
    # a Python number as one operand folds into the body
    np.testing.assert_allclose(run(smooth_max(a, 0.0), a=va), np.logaddexp(va, 0.0))
    with pytest.raises(TypeError, match="smooth_max"):
        smooth_max(a)


def test_user_elementwise_must_return_an_expression():
    with pytest.raises(TypeError, match="sympy expression"):
        gc.elementwise(lambda x: (x, x))


def test_every_builtin_is_one_sympy_expression():
    for name, fn in ew.BUILTINS.items():
        assert isinstance(fn.expr, sympy.Expr), name
        assert fn.expr.free_symbols <= set(fn.params), name


# NaN, infinities, signed zeros, huge, subnormal and ordinary values: the property tests
# compare the backends with each other, and both print the same bodies, so a body that is
# wrong for these (relu turned NaN into 0) is caught only against NumPy
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-40, -1e-40, 3.0, -2.5],
                   np.float32)


def assert_same_special_values(got, want):
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-37)
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("name,f,ref,sample", UNARY, ids=[u[0] for u in UNARY])
def test_unary_special_values_are_numpys(name, f, ref, sample, backend):
    x = gc.tensor("x", (SPECIAL.size,))
    with np.errstate(all="ignore"):
        want = ref(SPECIAL.astype(np.float64)).astype(np.float32)
        got = gc.compile(f(x), backend=backend)(x=SPECIAL)
    assert_same_special_values(got, want)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("name,f,ref", BINARY + [("maximum", gc.maximum, np.maximum),
                                                 ("minimum", gc.minimum, np.minimum)],
                         ids=[b[0] for b in BINARY] + ["maximum", "minimum"])
def test_binary_special_values_are_numpys(name, f, ref, backend):
    a, b = (v.ravel() for v in np.meshgrid(SPECIAL, SPECIAL, indexing="ij"))
    x, y = gc.tensor("x", (a.size,)), gc.tensor("y", (b.size,))
    with np.errstate(all="ignore"):
        want = ref(a, b)  # in float32, as the op computes
        got = gc.compile(f(x, y), backend=backend)(x=a, y=b)
    assert_same_special_values(got, want)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("e", [0.5, -0.5, -1, 2, 3, 1.5, 0.0])
def test_a_literal_exponent_is_numpys_power(e, backend):
    # NumPy (and torch) take x ** 0.5 as sqrt: -0.0 at -0.0 and NaN at -inf, where pow gives
    # 0.0 and inf; the cpu printer printed pow
    x = gc.tensor("x", (SPECIAL.size,))
    with np.errstate(all="ignore"):
        want = SPECIAL ** np.float32(e)
        got = gc.compile(x ** e, backend=backend)(x=SPECIAL)
    assert_same_special_values(got, want)


def test_equal_is_a_zero_one_mask_with_zero_gradient():
    a, b = gc.tensor("a", (2, 3), "float64"), gc.tensor("b", (3,), "float64")
    va = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    vb = np.array([1.0, 5.0, 1.0])
    mask = gc.apply(ew.EQUAL, a, b)
    np.testing.assert_array_equal(gc.compile(mask)(a=va, b=vb), (va == vb).astype(np.float32))
    ga, gb = gc.grad(gc.sum(mask * 3.0), [a, b])
    ra, rb = gc.compile([ga, gb], inputs=[a, b])(a=va, b=vb)
    assert not ra.any() and not rb.any() and rb.shape == (3,)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_integer_plus_minus_times_stay_integers_as_numpys(backend):
    # +, - and * of integers keep NumPy's integer dtype and wrap as NumPy's do (float32 lost
    # every integer past 2**24: 16777217 + 1 gave 16777216.0); mixed with a float operand or
    # a float literal, and every other op, they are float math, in float32 as in torch
    i, j = gc.tensor("i", (3,), "int32"), gc.tensor("j", (3,), "int32")
    u, m, x = gc.tensor("u", (3,), "uint8"), gc.tensor("m", (3,), "bool"), gc.tensor("x", (3,))
    vi = np.array([16777217, 2 ** 30, -7], np.int32)
    vj = np.array([1, 2 ** 30, 2], np.int32)
    vu, vm = np.array([0, 1, 255], np.uint8), np.array([True, False, True])
    outs = [i + j, i * j, i - j, -i, u - 1, m * i, i * 3, i * 0.5, x * i, i / j, i ** -1,
            (i + j) > 0]
    got = gc.compile(outs, backend=backend)(i=vi, j=vj, u=vu, m=vm, x=np.ones(3, np.float32))
    with np.errstate(over="ignore"):
        want = [vi + vj, vi * vj, vi - vj, -vi, vu - np.uint8(1), vm * vi, vi * 3]
        wrapped_sum = vi + vj
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
    for g in got[7:11]:
        assert g.dtype == np.float32
    np.testing.assert_array_equal(got[7], vi.astype(np.float32) * np.float32(0.5))
    np.testing.assert_allclose(got[10], 1 / vi.astype(np.float64), rtol=1e-6)
    np.testing.assert_array_equal(got[11], wrapped_sum > 0)  # compared after the wrap


def test_an_integer_literal_out_of_range_is_refused_where_it_is_written():
    # NumPy refuses uint8 + 300; the cpu backend had wrapped 300 to 44, the reference raised
    # NumPy's error at the call
    u, i = gc.tensor("u", (3,), "uint8"), gc.tensor("i", (3,), "int64")
    for build in (lambda: u + 300, lambda: u * -1, lambda: gc.maximum(u, 300),
                  lambda: gc.where(u > 1, u, 256), lambda: i * 2 ** 80):
        with pytest.raises(OverflowError, match=r"(add|mul|maximum|where): the integer .* "
                                                r"out of range for (uint8|int64)"):
            build()
    assert (u + 255).dtype == "uint8" and (u * 2.5).dtype == "float32"


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_a_comparison_with_an_integer_literal_out_of_range_is_numpys(backend):
    # NumPy compares uint8 with 300 or -1 exactly; the cpu backend had compared with 300
    # wrapped to 44 (255 > 300 was True)
    u = gc.tensor("u", (3,), "uint8")
    vu = np.array([0, 7, 255], np.uint8)
    got = gc.compile([u > 300, u < 300, u == -1, u > -1], backend=backend)(u=vu)
    for g, w in zip(got, [vu > 300, vu < 300, vu == -1, vu > -1]):
        np.testing.assert_array_equal(g, w)


def test_division_by_a_literal_zero_is_numpys_inf():
    # sympy folds x/0 into zoo*x, which no evaluator can print; it must stay NumPy's x/0
    x = gc.tensor("x", (3,))
    out = gc.compile([x / 0, x / 0.0, -x / 0])(x=np.array([1, -1, 0], np.float32))
    with np.errstate(all="ignore"):
        want = np.array([1, -1, 0], np.float32) / np.float32(0)
    for o in out[:2]:
        np.testing.assert_array_equal(o, want)
    np.testing.assert_array_equal(out[2], -want)


def test_a_formula_that_repeats_terms_prints_each_once_on_every_backend():
    # the tree of this formula holds 3^8 copies of x; printed as one expression, each level
    # tripled the line (and at 12 levels, printing took minutes). Each repeated term is now a
    # statement of its own (graphc/ir/scalar.py: shared_terms)
    nest = repeating_formula(8)
    x = gc.tensor("x", (7,))
    out = gc.elementwise(nest, "nest")(x)
    a = REPEATING_FEED
    f = gc.compile(out, backend="cpu")
    assert max(map(len, f.impl.source.splitlines())) < 200
    got, want = f(x=a), gc.compile(out, backend="reference")(x=a)
    np.testing.assert_allclose(got, want, rtol=1e-5)  # (the tanh of Numba and of NumPy)
    assert np.signbit(got).tolist() == np.signbit(want).tolist()
    xs = sympy.Symbol("x")
    exact = sympy.lambdify(xs, nest(xs), "numpy")(a.astype(np.float64))
    np.testing.assert_allclose(want, exact, rtol=1e-5, atol=1e-30)  # (float32 underflows)


def test_sign_of_negative_zero_is_zero_as_numpys():
    # d|x|/dx = sign(x): Numba's np.sign gave -0.0 at -0.0, NumPy's and torch's give 0.0
    x = gc.tensor("x", (5,))
    sign = gc.elementwise(lambda v: sympy.sign(v), "sign")
    a = np.array([-0.0, 0.0, np.nan, -3.0, 2.0], np.float32)
    want = np.sign(a)
    for backend in ("reference", "cpu"):
        got, grad = gc.compile([sign(x), gc.grad(gc.sum(gc.abs(x)), [x])[0]],
                               backend=backend)(x=a)
        for g in (got, grad):
            np.testing.assert_array_equal(g, want)
            assert np.signbit(g).tolist() == np.signbit(want).tolist()
