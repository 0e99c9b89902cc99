"""Gradients of the elementwise formulas where their arithmetic is delicate: at 0 * inf (pow),
at NaN (relu, against torch), at huge and tiny values (a square, a quotient: each term kept in
range), the explicit derivatives against sympy.diff, and those said through the op's result.
Formulas a user writes that repeat terms, differentiated one term at a time. Split from
test_elementwise_ops.py, which tests the forward values."""
import itertools

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.ir.scalar import OUT
from graphc.ops import elementwise as ew
from special_graphs import repeating_formula


def test_the_gradient_of_a_power_with_a_tensor_exponent_is_finite_at_zero():
    # sympy's d x**y/dx is y*x**y/x: 0/0 = NaN at x = 0, where torch's (and y*x**(y-1)) is 0
    x, y = gc.tensor("x", (4,), dtype="float64"), gc.tensor("y", (4,), dtype="float64")
    gx, gy = gc.grad(gc.sum(x ** y), [x, y])
    at = dict(x=np.array([0.0, -0.0, 2.0, -3.0]), y=np.full(4, 2.0))
    for backend in ("reference", "cpu"):
        got = gc.compile(gx, backend=backend)(**at)
        np.testing.assert_array_equal(got, [0.0, -0.0, 4.0, -6.0])
        assert list(np.signbit(got)) == [False, True, False, True]
    errs = gc.check_grad(gc.sum(x ** y), [x, y], {"x": np.array([0.5, 2.0, 1.5, 3.0]),
                                                  "y": np.array([2.0, 0.5, -1.0, 3.0])})
    assert max(errs.values()) < 1e-6


def test_the_gradient_of_a_power_is_torchs_where_its_formula_is_zero_times_inf():
    # d/dx = y * x**(y-1) is 0 * inf at x = 0, y = 0, and d/dy = x**y * log(x) is 0 * -inf at
    # x = 0, y > 0: torch (and JAX) give 0 there, the limits; d/dx is 0 wherever y = 0
    special = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, np.inf, -np.inf, np.nan]
    xs, ys = (np.array(v) for v in zip(*itertools.product(special, special)))
    x, y = gc.tensor("x", (xs.size,), "float64"), gc.tensor("y", (xs.size,), "float64")
    gx, gy = gc.grad(gc.sum(x ** y), [x, y])
    with np.errstate(all="ignore"):
        formula_x, formula_y = ys * xs ** (ys - 1), xs ** ys * np.log(xs)
    # the points in question are there: the formulas alone give NaN at them
    assert np.isnan(formula_x[(xs == 0) & (ys == 0)]).all()
    assert np.isnan(formula_y[(xs == 0) & (ys > 0)]).all()
    want_x = np.where(ys == 0, 0.0, formula_x)
    want_y = np.where((xs == 0) & (ys >= 0), 0.0, formula_y)
    for backend in ("reference", "cpu"):
        got_x, got_y = gc.compile([gx, gy], backend=backend)(x=xs, y=ys)
        np.testing.assert_array_equal(got_x, want_x)
        np.testing.assert_array_equal(got_y, want_y)


def test_the_explicit_derivatives_are_sympys():
    # equal to sympy.diff wherever that is defined (the points away from 0 * inf), sampled
    rng = np.random.default_rng(3)
    for fn in ew.BUILTINS.values():
        for i, d in enumerate(fn.derivatives or ()):
            d = d.xreplace({OUT: fn.expr})  # one that reads the op's result
            ours = sympy.lambdify(fn.params, d, "numpy")
            theirs = sympy.lambdify(fn.params, sympy.diff(fn.expr, fn.params[i]), "numpy")
            for _ in range(20):
                at = rng.uniform(0.1, 3.0, len(fn.params))
                assert np.isclose(ours(*at), theirs(*at), rtol=1e-12), (fn.name, i, at)


def test_relu_passes_the_gradient_at_nan_as_torch_does():
    x = gc.tensor("x", (3,))
    g = gc.grad(gc.sum(gc.relu(x)), [x])[0]
    for backend in ("reference", "cpu"):
        got = gc.compile(g, backend=backend)(x=np.array([np.nan, -1.0, 2.0], np.float32))
        np.testing.assert_array_equal(got, [1.0, 0.0, 1.0])


def test_relu_grad_via_output_agrees_with_sympy_diff_of_its_body():
    relu = ew.RELU
    (x,) = relu.params
    by_sympy = sympy.lambdify(x, sympy.diff(relu.expr, x), "numpy")
    via_out = sympy.lambdify(ew.OUT, relu.grad_via_output, "numpy")
    body = sympy.lambdify(x, relu.expr, "numpy")
    points = np.array([-3.0, -0.5, -1e-3, 1e-3, 0.25, 4.0])  # not 0: the kink
    for p in points:
        assert float(via_out(float(body(p)))) == float(by_sympy(p)), p


def test_grad_through_output_matches_sympy_for_tanh_and_exp():
    from graphc.ir.scalar import derivative, derivative_via_output
    for fn in (ew.TANH, ew.EXP):
        (x,) = fn.params
        via_out = derivative_via_output(fn)
        assert via_out is not None and x not in via_out.free_symbols
        for p in (-1.3, 0.2, 2.0):
            assert float(via_out.subs(ew.OUT, fn.expr.subs(x, p))) == pytest.approx(
                float(derivative(fn, 0).subs(x, p)), rel=1e-12)



@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_the_gradient_of_an_operand_used_twice_is_finite_where_each_term_is(backend):
    # d(x*x)/dx was g*(x + x): at x = 3e38 the sum overflowed, where g*x + g*x (and torch's
    # mse_loss gradient, 2/N * (x - t)) is 2 * 3e38 / 8
    x = gc.tensor("x", (2, 4))
    (dx,) = gc.grad(gc.mse_loss(x, gc.constant(np.zeros((2, 4), np.float32))), [x])
    got = gc.compile(dx, backend=backend)(x=np.full((2, 4), 3e38, np.float32))
    np.testing.assert_allclose(got, np.full((2, 4), 2 * 3e38 / 8), rtol=1e-6)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_the_gradient_of_a_quotient_in_its_divisor_is_in_range_where_the_result_is(backend):
    # d(x/y)/dy was -x/y**2: y**2 overflowed at y = 1e20 (-0.0 for -1e-10) and underflowed at
    # y = 1e-25 (-inf for -1e20); it is -(x/y)/y, torch's, read from the quotient
    x, y = gc.tensor("x", (4,)), gc.tensor("y", (4,))
    gx, gy = gc.grad(gc.sum(x / y), [x, y])
    X = np.array([1e30, 1e-30, 3.0, -0.0], np.float32)
    Y = np.array([1e20, 1e-25, 2.0, 4.0], np.float32)
    got_x, got_y = gc.compile([gx, gy], backend=backend)(x=X, y=Y)
    want = -(X.astype(np.float64) / Y) / Y
    np.testing.assert_allclose(got_y, want, rtol=1e-6)
    assert not np.signbit(got_y[3])  # -(-0/4)/4 is +0.0, as in torch
    np.testing.assert_allclose(got_x, 1 / Y.astype(np.float64), rtol=1e-6)


def abs_formula(levels: int):
    """v * tanh(v) + |v|, `levels` deep: a tree of 3^levels copies of x, built with sympy's
    evaluation off, as a deep formula must be (sympy's own Max, even unevaluated, sorts its
    arguments by walking their trees: exponential)."""
    def nest(x):
        with sympy.evaluate(False):
            v = x
            for _ in range(levels):
                v = v * sympy.tanh(v) + sympy.Abs(v)
        return v
    return nest


# away from the thresholds (multiples of 1/4) and from abs's kink (0)
SMOOTH_POINTS = np.array([-1.3, -0.37, -0.01, 0.11, 0.6, 0.93, 1.4, 2.2, 3.1])


def test_the_gradient_of_a_formula_that_repeats_terms_is_the_derivative_of_its_tree():
    # sympy.diff of the tree took 125 s for 6 levels of v * tanh(v) + Max(v, 0); a formula that
    # repeats terms is now differentiated one repeated term at a time (graphc/ir/body.py:
    # split_terms). At 3 levels sympy's derivative of the tree is the oracle
    xs = sympy.Symbol("x", real=True)  # (d|x|/dx is sign(x) only for a real x)
    x = gc.tensor("x", (len(SMOOTH_POINTS),), dtype="float64")
    grads, want = [], []
    for make in (repeating_formula, abs_formula):
        nest = make(3)
        want.append(sympy.lambdify(xs, sympy.diff(nest(xs), xs), "numpy")(SMOOTH_POINTS))
        grads.append(gc.grad(gc.sum(gc.elementwise(nest, "nest")(x)), x))
    for backend in ("reference", "cpu"):
        got = gc.compile(grads, backend=backend)(x=SMOOTH_POINTS)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, err_msg=backend)


@pytest.mark.parametrize("make", [repeating_formula, abs_formula])
def test_a_deep_formula_that_repeats_terms_differentiates_twice(make):
    # 30 levels: a tree of 3^30 copies of x, which sympy's walks would never finish;
    # the first and second derivatives against finite differences (float64)
    op = gc.elementwise(make(30), "nest30")
    x = gc.tensor("x", (len(SMOOTH_POINTS),), dtype="float64")
    feed = {"x": SMOOTH_POINTS / (3 if make is repeating_formula else 100)}  # (in range)
    gc.check_grad(gc.sum(op(x) * op(x)), [x], feed)
    gc.check_grad(gc.sum(gc.grad(gc.sum(op(x)), x)), [x], feed)
