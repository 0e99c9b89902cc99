"""Second order: gc.grad over graphs that already hold gradients. d²/dx² of tanh and
sigmoid against their hand-derived formulas, and Hessian-vector products of matmul chains
against the exact Hessian (a quadratic) and against finite differences of the gradient."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(5)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_tanh_second_and_third_derivatives():
    x = gc.tensor("x", (7,), "float64")
    d1 = gc.grad(gc.sum(gc.tanh(x)), x)
    d2 = gc.grad(gc.sum(d1), x)
    d3 = gc.grad(gc.sum(d2), x)
    a = np.linspace(-3, 3, 7)
    t = np.tanh(a)
    r1, r2, r3 = gc.compile([d1, d2, d3])(x=a)
    np.testing.assert_allclose(r1, 1 - t ** 2, rtol=1e-12)
    np.testing.assert_allclose(r2, -2 * t * (1 - t ** 2), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(r3, -2 * (1 - t ** 2) * (1 - 3 * t ** 2), rtol=1e-10, atol=1e-15)


def test_sigmoid_second_derivative():
    x = gc.tensor("x", (9,), "float64")
    d2 = gc.grad(gc.sum(gc.grad(gc.sum(gc.sigmoid(x)), x)), x)
    a = np.linspace(-6, 6, 9)
    s = _sigmoid(a)
    np.testing.assert_allclose(gc.compile(d2)(x=a), s * (1 - s) * (1 - 2 * s), rtol=1e-9,
                               atol=1e-15)


@pytest.mark.parametrize("f", [gc.tanh, gc.sigmoid, gc.gelu,
                               lambda t: gc.exp(t) * gc.log(t * t + 1),
                               lambda t: gc.tanh(t) / (t * t + 1)],
                         ids=["tanh", "sigmoid", "gelu", "exp*log", "quotient"])
def test_gradient_of_the_gradient_matches_finite_differences(f):
    """check_grad on a graph that is itself a gradient: d/dx <∇f(x), v>."""
    x = gc.tensor("x", (2, 3), "float64")
    v = gc.constant(RNG.standard_normal((2, 3)), dtype="float64")
    gx = gc.grad(gc.sum(f(x) * f(x)), x)
    errs = gc.check_grad(gc.sum(gx * v), [x], {"x": RNG.standard_normal((2, 3))})
    assert errs["x"] < 1e-6


def test_hessian_vector_product_of_a_linear_matmul_chain_is_exact():
    """L(W) = ½‖A W B‖²: ∇L = Aᵀ(A W B)Bᵀ and, L being quadratic,
    H·V = Aᵀ(A V B)Bᵀ."""
    A, W, B = (gc.tensor(n, s, "float64") for n, s in
               (("A", (5, 3)), ("W", (3, 4)), ("B", (4, 2))))
    V = gc.tensor("V", (3, 4), "float64")
    loss = 0.5 * gc.sum((A @ W @ B) ** 2)
    gW = gc.grad(loss, W)
    hvp = gc.grad(gc.sum(gW * V), W)
    vA, vW, vB, vV = (RNG.standard_normal(s) for s in ((5, 3), (3, 4), (4, 2), (3, 4)))
    g, h = gc.compile([gW, hvp])(A=vA, W=vW, B=vB, V=vV)
    np.testing.assert_allclose(g, vA.T @ (vA @ vW @ vB) @ vB.T, rtol=1e-11)
    np.testing.assert_allclose(h, vA.T @ (vA @ vV @ vB) @ vB.T, rtol=1e-11)


def test_full_hessian_of_a_quadratic_form():
    """f(x) = xᵀ M x has Hessian M + Mᵀ; its rows are HVPs with the basis vectors."""
    x = gc.tensor("x", (4,), "float64")
    M = RNG.standard_normal((4, 4))
    f = gc.sum(x * (gc.constant(M, dtype="float64") @ x))
    gx = gc.grad(f, x)
    rows = [gc.grad(gc.sum(gx * gc.constant(np.eye(4)[i], dtype="float64")), x)
            for i in range(4)]
    # the rows read no input (f is quadratic): `inputs` keeps x the argument all the same
    H = np.stack(gc.compile(rows, inputs=[x])(x=RNG.standard_normal(4)))
    np.testing.assert_allclose(H, M + M.T, rtol=1e-12)


def test_hessian_vector_product_of_a_nonlinear_chain_matches_finite_differences():
    """L = mean(tanh(X W1) W2 - Y)²; H·V by gc.grad twice against (∇L(W+εV) - ∇L(W-εV))/2ε,
    including the mixed block ∂²L/∂W2∂W1 · V."""
    X, Y = gc.tensor("X", ("N", 4), "float64"), gc.tensor("Y", ("N", 2), "float64")
    W1, W2 = gc.tensor("W1", (4, 5), "float64"), gc.tensor("W2", (5, 2), "float64")
    V = gc.tensor("V", (4, 5), "float64")
    loss = gc.mean((gc.tanh(X @ W1) @ W2 - Y) ** 2)
    g1, g2 = gc.grad(loss, [W1, W2])
    h11, h21 = gc.grad(gc.sum(g1 * V), [W1, W2])
    f_grad = gc.compile([g1, g2])
    f_hvp = gc.compile([h11, h21])
    feeds = {"X": RNG.standard_normal((6, 4)), "Y": RNG.standard_normal((6, 2)),
             "W1": RNG.standard_normal((4, 5)) * 0.5, "W2": RNG.standard_normal((5, 2))}
    vV = RNG.standard_normal((4, 5))
    r11, r21 = f_hvp(V=vV, **feeds)
    eps = 1e-5
    plus = f_grad(**dict(feeds, W1=feeds["W1"] + eps * vV))
    minus = f_grad(**dict(feeds, W1=feeds["W1"] - eps * vV))
    np.testing.assert_allclose(r11, (plus[0] - minus[0]) / (2 * eps), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(r21, (plus[1] - minus[1]) / (2 * eps), rtol=1e-6, atol=1e-9)


def test_second_order_through_reductions_and_softmax():
    """d²/dx² of logsumexp is diag(p) - p pᵀ (p = softmax): its action on v."""
    x = gc.tensor("x", (5,), "float64")
    v = RNG.standard_normal(5)
    gx = gc.grad(gc.logsumexp(x), x)
    hv = gc.grad(gc.sum(gx * gc.constant(v, dtype="float64")), x)
    a = RNG.standard_normal(5)
    p = np.exp(a - np.log(np.exp(a).sum()))
    np.testing.assert_allclose(gc.compile(hv)(x=a), p * v - p * (p @ v), rtol=1e-10, atol=1e-14)


def test_hessian_vector_product_through_relu():
    """L(W) = ½ Σ relu(XW)²: ∇L = Xᵀ relu(XW), and relu'' = 0 away from the kink, so
    H·V = Xᵀ ([XW > 0] ⊙ XV). relu's derivative is said through its output: the second
    pass differentiates that form."""
    X, W, V = (gc.tensor(n, s, "float64") for n, s in (("X", (6, 3)), ("W", (3, 4)),
                                                      ("V", (3, 4))))
    loss = 0.5 * gc.sum(gc.relu(X @ W) ** 2)
    gW = gc.grad(loss, W)
    hvp = gc.grad(gc.sum(gW * V), W)
    vX, vW, vV = (RNG.standard_normal(s) for s in ((6, 3), (3, 4), (3, 4)))
    g, h = gc.compile([gW, hvp])(X=vX, W=vW, V=vV)
    Z = vX @ vW
    np.testing.assert_allclose(g, vX.T @ np.maximum(Z, 0), rtol=1e-12)
    np.testing.assert_allclose(h, vX.T @ ((Z > 0) * (vX @ vV)), rtol=1e-12)
    # and the second derivative of relu itself is zero everywhere but the kink
    x = gc.tensor("x", (4,), "float64")
    d1 = gc.grad(gc.sum(gc.relu(x)), x)
    d2 = gc.grad(gc.sum(d1 * d1 * x), x)  # d/dx (relu'(x)² x) = relu'(x)²
    r1, r2 = gc.compile([d1, d2])(x=np.array([-2.0, -0.5, 0.3, 1.5]))
    np.testing.assert_array_equal(r1, [0, 0, 1, 1])
    np.testing.assert_array_equal(r2, [0, 0, 1, 1])


def test_cotangent_symbol_never_collides_with_a_dim_named_g():
    """The derivative body's cotangent is a fresh symbol, even when a dim is called g."""
    x = gc.tensor("x", ("g", 3), "float64")
    y = gc.mean(gc.tanh(x))  # the body of the mean reads the dim g
    d1 = gc.grad(y, x)
    d2 = gc.grad(gc.sum(d1 * d1), x)
    a = RNG.standard_normal((2, 3))
    t = np.tanh(a)
    r1, r2 = gc.compile([d1, d2])(x=a)
    np.testing.assert_allclose(r1, (1 - t ** 2) / 6, rtol=1e-12)
    # d/dx ((1 - t²)/6)² = 2 (1 - t²)/6 · (-2 t (1 - t²))/6
    np.testing.assert_allclose(r2, -4 * t * (1 - t ** 2) ** 2 / 36, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("f", [
    lambda x: gc.where(x > 0.1, x * x * x, gc.tanh(x)),
    lambda x: gc.maximum(x * x, gc.exp(x) * 0.5) * x,
    lambda x: gc.abs(x) * x * x,
    lambda x: gc.take(x, [2, 0, 2, -1], axis=1) ** 3,
    lambda x: gc.conv2d(gc.reshape(x, (1, 1, 3, 4)), gc.reshape(x[:, :2] * x[:, 1:3], (3, 1, 2, 1)),
                        padding=1) ** 2],
    ids=["where", "maximum", "abs", "take", "conv2d"])
def test_second_order_through_the_new_ops(f):
    """d/dx <∇ sum f(x)², v> by finite differences: the gradients of where, maximum, abs,
    take and conv2d are graphs that can be differentiated again."""
    x = gc.tensor("x", (3, 4), "float64")
    X = RNG.choice([-1, 1], (3, 4)) * RNG.uniform(0.3, 1.5, (3, 4))
    y = f(x)
    (g,) = gc.grad(gc.sum(y * y), [x])
    v = gc.constant(RNG.standard_normal((3, 4)), "float64")
    gc.check_grad(gc.sum(g * v), [x], {"x": X}, rtol=1e-4)
