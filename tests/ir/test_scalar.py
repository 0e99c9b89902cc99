"""Scalar functions, the formulas of elementwise ops: derivatives, derivatives said through
the output, kinds, how a user writes them. Mirrors graphc/ir/scalar.py."""
import numpy as np
import pytest
import sympy

from graphc.ir.body import one_op
from graphc.ir.numpy_code import evaluate
from graphc.ir.scalar import OUT, ScalarFn, derivative, derivative_via_output
from graphc.ir.shapes import dim
from graphc.ops import elementwise as ew

x, y = sympy.symbols("x y")


def test_arity_dims_and_str():
    B = dim("B")
    fn = ScalarFn("mean_part", (x,), x / B)
    assert fn.arity == 1 and fn.dim_symbols() == (B,)
    assert str(ew.ADD) == "add(x, y) = x + y"


def test_derivative_is_sympy_diff():
    assert derivative(ew.MUL, 0) == y and derivative(ew.MUL, 1) == x
    assert sympy.simplify(derivative(ew.DIV, 1) + x / y ** 2) == 0
    assert sympy.simplify(derivative(ew.TANH, 0) - (1 - sympy.tanh(x) ** 2)) == 0


def test_derivative_via_output():
    assert sympy.expand(derivative_via_output(ew.TANH)) == 1 - OUT ** 2
    assert derivative_via_output(ew.EXP) == OUT
    assert derivative_via_output(ew.RELU) == ew.RELU.grad_via_output
    assert derivative_via_output(ew.LOG) is None   # 1/x cannot be said through log(x)
    assert derivative_via_output(ew.MUL) is None   # binary


def test_every_unary_derivative_via_output_agrees_with_sympy():
    points = [-1.7, -0.3, 0.4, 2.2]
    for fn in ew.BUILTINS.values():
        if fn.arity != 1:
            continue
        via = derivative_via_output(fn)
        if via is None:
            continue
        (p,) = fn.params
        for v in points:
            if fn.name in ("log", "sqrt") and v <= 0:
                continue
            by_output = float(via.subs(OUT, fn.expr.subs(p, v)))
            by_sympy = float(sympy.diff(fn.expr, p).subs(p, v))
            assert by_output == pytest.approx(by_sympy, rel=1e-12, abs=1e-15), (fn.name, v)


def test_evaluate_binds_dims_and_broadcasts():
    B = dim("B")
    fn = ScalarFn("f", (x, y), x * y / B)
    body = one_op(fn, ["float64", "float64"])
    out = evaluate(body, [np.ones((2, 1)), np.arange(3.0)], {B: 4})
    np.testing.assert_allclose(out, np.broadcast_to(np.arange(3.0) / 4, (2, 3)))
    with pytest.raises(ValueError, match="not bound"):
        evaluate(body, [np.ones(2), np.ones(2)], {})


def test_erf_evaluates():
    import math
    body = one_op(ew.GELU, ["float64"])
    a = np.array([-1.0, 0.0, 0.5])
    np.testing.assert_allclose(evaluate(body, [a], {}),
                               [v / 2 * (1 + math.erf(v / math.sqrt(2))) for v in a], rtol=1e-14)


def test_kinds_are_checked_and_templates_say_how_users_write_ops():
    with pytest.raises(ValueError, match="kind must be one of"):
        ScalarFn("f", (x,), x, kind="magic")
    assert ew.ADD.written(["a", "b"]) == "a + b" and ew.TANH.written(["t1"]) == "tanh(t1)"
    assert ScalarFn("mine", (x, y), x * y).written(["p", "q"]) == "mine(p, q)"
    assert ScalarFn("first", (x, y), 2 * x).reads == (True, False)


def test_a_constant_derivative_is_not_said_through_the_output():
    scale = ScalarFn("mul", (x,), 2.5 * x)
    assert derivative_via_output(scale) is None and derivative(scale, 0) == 2.5


def test_gradient_of_a_scaled_tensor_does_not_read_the_forward_result():
    import graphc as gc
    from graphc.ir.graph import topo_order
    t = gc.tensor("t", (3,))
    scaled = t * 2.5
    g = gc.grad(gc.sum(scaled), t)
    assert all(n is not scaled for n in topo_order([g]))
    np.testing.assert_allclose(gc.compile(g, inputs=[t])(t=np.ones(3, np.float32)), 2.5)


def test_a_dim_named_like_a_parameter_is_a_different_symbol():
    X = dim("x")  # the dim "x", not the parameter x
    fn = ScalarFn("mean_part", (x,), x / X)
    np.testing.assert_allclose(evaluate(one_op(fn, ["float64"]), [np.array([2.0, 4.0])], {X: 4}),
                               [0.5, 1.0])
    import graphc as gc
    t = gc.tensor("t", ("x", 3), "float64")
    m = gc.mean(t)
    d2 = gc.grad(gc.sum(gc.grad(m * m, t)), t)  # bodies with x, g and the dim x
    r, h = gc.compile([m, d2], opt_level=0)(t=np.full((2, 3), 3.0))
    assert float(r) == 3.0
    np.testing.assert_allclose(h, np.full((2, 3), 2 * 6 / 36))  # d/dt Σ 2m/6 = 2·6/36


def test_derivatives_sympy_leaves_unprintable_are_taken_on_real_numbers():
    # d|x|/dx of a complex-by-default symbol is Derivative(re(x)) terms; of a real one, sign(x);
    # a step's derivative is DiracDelta, 0 wherever it is defined
    x = sympy.Symbol("x")
    assert derivative(ScalarFn("abs", (x,), sympy.Abs(x)), 0) == sympy.sign(x)
    assert derivative(ScalarFn("step", (x,), sympy.Heaviside(x) * x), 0) == sympy.Heaviside(x)
    d = derivative(ScalarFn("dabs", (x,), sympy.sign(x)), 0)
    assert d == 0
