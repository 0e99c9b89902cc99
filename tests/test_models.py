"""Composite models end to end: every gradient against a hand-written NumPy backward pass
(the lecture's formulas), in float64 to tight tolerances and in float32 to float32's."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(7)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _cross_entropy(z, labels):
    return -_log_softmax(z)[np.arange(len(labels)), labels].mean()


TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=1e-6)}


@pytest.fixture(scope="module", params=["float64", "float32"])
def linear_ce(request):
    dtype = request.param
    x = gc.tensor("x", ("B", 20), dtype)
    y = gc.tensor("y", ("B",), dtype="int64")
    W, b = gc.tensor("W", (20, 10), dtype), gc.tensor("b", (10,), dtype)
    loss = gc.cross_entropy(x @ W + b, y)
    gW, gb, gx = gc.grad(loss, [W, b, x])
    return dtype, gc.compile([loss, gW, gb, gx])


@pytest.mark.parametrize("batch", [1, 16])
def test_linear_layer_with_cross_entropy(linear_ce, batch):
    dtype, f = linear_ce
    X = RNG.standard_normal((batch, 20)).astype(dtype)
    Y = RNG.integers(0, 10, batch)
    W0 = (RNG.standard_normal((20, 10)) * 0.3).astype(dtype)
    b0 = RNG.standard_normal(10).astype(dtype)
    loss, gW, gb, gx = f(x=X, y=Y, W=W0, b=b0)
    assert all(r.dtype == dtype for r in (loss, gW, gb, gx))
    X64, W64, b64 = X.astype(np.float64), W0.astype(np.float64), b0.astype(np.float64)
    z = X64 @ W64 + b64
    # backward by hand: dL/dz = (softmax(z) - onehot(y)) / B
    dz = (_softmax(z) - np.eye(10)[Y]) / batch
    np.testing.assert_allclose(loss, _cross_entropy(z, Y), **TOL[dtype])
    np.testing.assert_allclose(gW, X64.T @ dz, **TOL[dtype])
    np.testing.assert_allclose(gb, dz.sum(0), **TOL[dtype])
    np.testing.assert_allclose(gx, dz @ W64.T, **TOL[dtype])


def test_mlp_with_relu():
    x, y = gc.tensor("x", ("B", 6), "float64"), gc.tensor("y", ("B",), "int64")
    W1, b1 = gc.tensor("W1", (6, 8), "float64"), gc.tensor("b1", (8,), "float64")
    W2, b2 = gc.tensor("W2", (8, 3), "float64"), gc.tensor("b2", (3,), "float64")
    h = gc.relu(x @ W1 + b1)
    loss = gc.cross_entropy(h @ W2 + b2, y)
    grads = gc.grad(loss, [W1, b1, W2, b2])
    f = gc.compile([loss] + grads)
    v = dict(x=RNG.standard_normal((10, 6)), y=RNG.integers(0, 3, 10),
             W1=RNG.standard_normal((6, 8)), b1=RNG.standard_normal(8) * 0.1,
             W2=RNG.standard_normal((8, 3)), b2=RNG.standard_normal(3))
    out = f(**v)
    # by hand
    a1 = v["x"] @ v["W1"] + v["b1"]
    h1 = np.maximum(a1, 0)
    z = h1 @ v["W2"] + v["b2"]
    dz = (_softmax(z) - np.eye(3)[v["y"]]) / 10
    dh = dz @ v["W2"].T
    da = dh * (a1 > 0)
    expected = [_cross_entropy(z, v["y"]), v["x"].T @ da, da.sum(0), h1.T @ dz, dz.sum(0)]
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_mse_regression():
    x, t = gc.tensor("x", ("N", 3), "float64"), gc.tensor("t", ("N", 1), "float64")
    w, b = gc.tensor("w", (3, 1), "float64"), gc.tensor("b", (1,), "float64")
    pred = x @ w + b
    loss = gc.mse_loss(pred, t)
    f = gc.compile([loss] + gc.grad(loss, [w, b]))
    X, T = RNG.standard_normal((12, 3)), RNG.standard_normal((12, 1))
    W0, b0 = RNG.standard_normal((3, 1)), RNG.standard_normal(1)
    lv, gw, gb = f(x=X, t=T, w=W0, b=b0)
    r = X @ W0 + b0 - T
    np.testing.assert_allclose(lv, np.mean(r ** 2), rtol=1e-12)
    np.testing.assert_allclose(gw, 2 * X.T @ r / 12, rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * r.sum(0) / 12, rtol=1e-12)
    # gradient descent on these gradients solves least squares
    W, B = W0.copy(), b0.copy()
    for _ in range(300):
        _, gw, gb = f(x=X, t=T, w=W, b=B)
        W, B = W - 0.1 * gw, B - 0.1 * gb
    A = np.hstack([X, np.ones((12, 1))])
    sol = np.linalg.lstsq(A, T, rcond=None)[0]
    np.testing.assert_allclose(np.vstack([W, B[:, None]]), sol, atol=1e-6)


def test_linear_layer_on_a_4d_input():
    X = gc.tensor("X", (4, 8, 30, 20), "float64")
    W, b = gc.tensor("W", (20, 30), "float64"), gc.tensor("b", (30,), "float64")
    out = X @ W + b
    assert out.shape == (4, 8, 30, 30)
    R = RNG.standard_normal((4, 8, 30, 30))
    loss = gc.sum(out * gc.constant(R, dtype="float64"))
    gX, gW, gb = gc.grad(loss, [X, W, b])
    vX, vW, vb = RNG.standard_normal((4, 8, 30, 20)), RNG.standard_normal((20, 30)), \
        RNG.standard_normal(30)
    o, rX, rW, rb = gc.compile([out, gX, gW, gb])(X=vX, W=vW, b=vb)
    np.testing.assert_allclose(o, vX @ vW + vb, rtol=1e-12)
    np.testing.assert_allclose(rX, R @ vW.T, rtol=1e-10)
    np.testing.assert_allclose(rW, np.einsum("abij,abik->jk", vX, R), rtol=1e-10)
    np.testing.assert_allclose(rb, R.sum((0, 1, 2)), rtol=1e-10)


@pytest.mark.parametrize("eq,sa,sb,dA,dB", [
    ("bd,de->be", (5, 4), (4, 3), lambda G, A, B: G @ B.T, lambda G, A, B: A.T @ G),
    ("bik,bkj->bij", (2, 5, 4), (2, 4, 3),
     lambda G, A, B: G @ B.transpose(0, 2, 1), lambda G, A, B: A.transpose(0, 2, 1) @ G),
], ids=["bd,de->be", "bik,bkj->bij"])
def test_einsum_gradients(eq, sa, sb, dA, dB):
    A, B = gc.tensor("A", sa, "float64"), gc.tensor("B", sb, "float64")
    out = gc.einsum(eq, A, B)
    G = RNG.standard_normal(tuple(int(d) for d in out.shape))
    loss = gc.sum(out * gc.constant(G, dtype="float64"))
    gA, gB = gc.grad(loss, [A, B])
    vA, vB = RNG.standard_normal(sa), RNG.standard_normal(sb)
    o, rA, rB = gc.compile([out, gA, gB])(A=vA, B=vB)
    np.testing.assert_allclose(o, np.einsum(eq, vA, vB), rtol=1e-12)
    np.testing.assert_allclose(rA, dA(G, vA, vB), rtol=1e-12)
    np.testing.assert_allclose(rB, dB(G, vA, vB), rtol=1e-12)
    assert gc.check_grad(loss, [A, B], {"A": vA, "B": vB})["A"] < 1e-8


@pytest.mark.parametrize("dtype,rtol", [
    ("float64", 1e-12),
    # float32's spacing at 1000 is 6.1e-5 and the loss is lse(z) - z[y], both near 1000: an
    # absolute error of a few of those ulps is float32's floor for any formula that forms lse
    ("float32", None),
])
def test_cross_entropy_with_logits_of_1000(dtype, rtol):
    z = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0], [-1000.0, 1000.0, 1000.0]])
    labels = np.array([0, 2, 0])
    logits, y = gc.tensor("logits", (3, 3), dtype), gc.tensor("y", (3,), "int64")
    loss = gc.cross_entropy(logits, y)
    lv, g = gc.compile([loss, gc.grad(loss, logits)])(logits=z.astype(dtype), y=labels)
    assert np.isfinite(lv) and np.all(np.isfinite(g)) and lv.dtype == dtype
    expected = _cross_entropy(z, labels)  # per row: log 1+e^-1000.., log(2+e^-1)+1, 2000+log 2
    expected_g = (_softmax(z) - np.eye(3)[labels]) / 3
    if rtol is None:
        np.testing.assert_allclose(lv, expected, atol=4 * 6.1e-5, rtol=0)
        np.testing.assert_allclose(g, expected_g, atol=1e-5, rtol=0)
    else:
        np.testing.assert_allclose(lv, expected, rtol=rtol)
        np.testing.assert_allclose(g, expected_g, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax_match_numpy(axis):
    x = gc.tensor("x", (4, 5), "float64")
    a = RNG.standard_normal((4, 5)) * 10
    a[0, 0] = 900.0
    s, ls = gc.compile([gc.softmax(x, axis=axis), gc.log_softmax(x, axis=axis)])(x=a)
    moved = np.moveaxis(a, axis, -1)
    np.testing.assert_allclose(s, np.moveaxis(_softmax(moved), -1, axis), rtol=1e-12,
                               atol=1e-300)
    np.testing.assert_allclose(ls, np.moveaxis(_log_softmax(moved), -1, axis), rtol=1e-12,
                               atol=1e-13)  # x - lse(x) cancels: absolute error of ulps
    np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-14)
    w = gc.constant(RNG.standard_normal((4, 5)), dtype="float64")
    assert gc.check_grad(gc.sum(gc.softmax(x, axis) * w), [x], {"x": a / 10})["x"] < 1e-8


def test_mean_over_a_symbolic_batch_in_a_loss():
    x, w = gc.tensor("x", ("B", 4), "float64"), gc.tensor("w", (4,), "float64")
    loss = gc.mean(gc.tanh(x @ w))
    f = gc.compile([loss, gc.grad(loss, w)])
    for batch in (1, 9):
        X, W = RNG.standard_normal((batch, 4)), RNG.standard_normal(4)
        lv, gw = f(x=X, w=W)
        t = np.tanh(X @ W)
        np.testing.assert_allclose(lv, t.mean(), rtol=1e-12)
        np.testing.assert_allclose(gw, X.T @ (1 - t ** 2) / batch, rtol=1e-12)
