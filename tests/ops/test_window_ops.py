"""Sliding windows, convolution and pooling: the windows view against NumPy's
sliding_window_view, unwindows as its adjoint, conv2d / max_pool2d / avg_pool2d against
torch (forward and gradients, strides and padding), finite differences, second order through
conv2d, symbolic batch sizes, and the fusion of a conv's bias and relu into its contraction.
Mirrors graphc/ops/window.py and graphc/functional.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.passes.kernels import kernels

RNG = np.random.default_rng(21)
CONV_CASES = [(1, 0), (1, 1), (2, 1), ((2, 1), (0, 2)), (3, 2)]


@pytest.mark.parametrize("kernel,stride", [((3, 3), (1, 1)), ((2, 3), (2, 1)), ((4,), (3,))])
def test_windows_is_numpys_sliding_window_view_and_unwindows_its_adjoint(kernel, stride):
    k = len(kernel)
    shape = (2, 3, 7, 6)[:2 + k] if k == 2 else (2, 9)
    x = gc.tensor("x", shape, "float64")
    w = gc.functional.windows(x, kernel, stride)
    assert w.op == "windows" and not kernels(gc.Graph.of([w]))  # a view, no kernel
    X = RNG.standard_normal(shape)
    view = np.lib.stride_tricks.sliding_window_view(X, kernel, axis=tuple(range(-k, 0)))
    want = view[(Ellipsis,) + tuple(slice(None, None, s) for s in stride) + (slice(None),) * k]
    assert w.shape == want.shape
    np.testing.assert_array_equal(gc.compile(w)(x=X), want)
    # <windows(x), g> = <x, unwindows(g)>: the gradient is the adjoint
    G = RNG.standard_normal(want.shape)
    (gx,) = gc.grad(gc.sum(w * gc.constant(G, "float64")), [x])
    back = gc.compile(gx, inputs=[x])(x=X)
    np.testing.assert_allclose(np.sum(want * G), np.sum(X * back), rtol=1e-12)
    assert gx.op == "unwindows"


@pytest.mark.parametrize("stride,padding", CONV_CASES, ids=str)
def test_conv2d_matches_torch_forward_and_backward(stride, padding):
    torch = pytest.importorskip("torch")
    x = gc.tensor("x", ("N", 3, 9, 8), "float64")
    w, b = gc.tensor("w", (4, 3, 3, 2), "float64"), gc.tensor("b", (4,), "float64")
    X, W, Bv = (RNG.standard_normal(s) for s in ((2, 3, 9, 8), (4, 3, 3, 2), (4,)))
    y = gc.conv2d(x, w, b, stride=stride, padding=padding)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (X, W, Bv))
    want = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    C = RNG.standard_normal(tuple(want.shape))
    c = gc.tensor("c", y.shape, "float64")
    got = gc.compile([y] + gc.grad(gc.sum(gc.tanh(y) * c), [x, w, b]))(x=X, w=W, b=Bv, c=C)
    (torch.tanh(want) * torch.tensor(C)).sum().backward()
    np.testing.assert_allclose(got[0], want.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, t in zip(got[1:], (tx, tw, tb)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_gradients_match_finite_differences_and_second_order():
    x = gc.tensor("x", (2, 2, 6, 5), "float64")
    w, b = gc.tensor("w", (3, 2, 3, 3), "float64"), gc.tensor("b", (3,), "float64")
    feeds = {"x": RNG.standard_normal((2, 2, 6, 5)), "w": RNG.standard_normal((3, 2, 3, 3)),
             "b": RNG.standard_normal(3)}
    y = gc.conv2d(x, w, b, stride=(2, 1), padding=1)
    r = gc.constant(RNG.standard_normal((2, 3, 3, 5)), "float64")
    gc.check_grad(gc.sum(gc.tanh(y) * r), [x, w, b], feeds)
    # second order: the gradient's own gradient (a conv of a conv's gradient)
    gx, gw = gc.grad(gc.sum(y * y * r), [x, w])
    gc.check_grad(gc.sum(gx * gx) + gc.sum(gw * gw), [x, w], feeds, rtol=1e-4)


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2), ((2, 3), (1, 2))], ids=str)
def test_pooling_matches_torch(kernel, stride):
    torch = pytest.importorskip("torch")
    x = gc.tensor("x", ("N", 2, 7, 6), "float64")
    X = RNG.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) / 10.0  # no ties: one max each
    mp, ap = gc.max_pool2d(x, kernel, stride), gc.avg_pool2d(x, kernel, stride)
    tx = torch.tensor(X, requires_grad=True)
    tm = torch.nn.functional.max_pool2d(tx, kernel, stride)
    ta = torch.nn.functional.avg_pool2d(tx, kernel, stride)
    assert mp.shape[1:] == tuple(tm.shape[1:])
    c = gc.tensor("c", mp.shape, "float64")
    C = RNG.standard_normal(tuple(tm.shape))
    loss = gc.sum(mp * c) + gc.sum(ap * ap)
    got = gc.compile([mp, ap, *gc.grad(loss, [x])])(x=X, c=C)
    ((tm * torch.tensor(C)).sum() + (ta * ta).sum()).backward()
    np.testing.assert_allclose(got[0], tm.detach().numpy())
    np.testing.assert_allclose(got[1], ta.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[2], tx.grad.numpy(), rtol=1e-12)


def test_max_pool_ties_share_the_gradient():
    x = gc.tensor("x", (1, 1, 2, 2), "float64")
    (g,) = gc.grad(gc.sum(gc.max_pool2d(x, 2)), [x])
    np.testing.assert_allclose(gc.compile(g)(x=np.ones((1, 1, 2, 2))), np.full((1, 1, 2, 2),
                                                                                 0.25))


def test_a_convs_bias_and_relu_fuse_into_its_contraction():
    x = gc.tensor("x", ("N", 1, 8, 8))
    w, b = gc.tensor("w", (4, 1, 3, 3)), gc.tensor("b", (4,))
    y = gc.relu(gc.conv2d(x, w, b, padding=1))
    f = gc.compile(y)
    ks = kernels(f.graph)
    assert [(n.op, n.attrs.get("fused")) for n in ks] == [
        ("pad", None), ("fused_contraction", ("einsum", "add", "relu"))]
    assert "schedule" in ks[1].attrs  # tiled like any contraction
    X = RNG.standard_normal((3, 1, 8, 8)).astype(np.float32)
    W, Bv = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32), np.float32([1, -1, 0, 2])
    np.testing.assert_allclose(f(x=X, w=W, b=Bv), gc.compile(y, opt_level=0)(x=X, w=W, b=Bv),
                               rtol=1e-6)


def test_symbolic_batch_and_errors():
    x = gc.tensor("x", ("N", 3, 8, 8))
    w = gc.tensor("w", (5, 3, 3, 3))
    y = gc.max_pool2d(gc.relu(gc.conv2d(x, w, padding=1)), 2)
    assert str(y.shape) == "(N, 5, 4, 4)"
    f = gc.compile(y)
    for n in (0, 1, 3):
        assert f(x=np.zeros((n, 3, 8, 8), np.float32),
                 w=np.zeros((5, 3, 3, 3), np.float32)).shape == (n, 5, 4, 4)
    with pytest.raises(gc.ShapeError, match=r"x \(N, 3, 8, 8\) has 3 channels, w \(5, 2, 3, 3\)"):
        gc.conv2d(x, gc.tensor("v", (5, 2, 3, 3)))
    with pytest.raises(gc.ShapeError, match="expected x \\(N, C, H, W\\)"):
        gc.conv2d(gc.tensor("z", (3, 8, 8)), w)
    with pytest.raises(gc.ShapeError, match="a window of 9 does not fit an axis of 8"):
        gc.max_pool2d(x, 9)
    with pytest.raises(gc.ShapeError, match="stride must be an int or a pair"):
        gc.conv2d(x, w, stride=(1, 1, 1))
    with pytest.raises(gc.ShapeError, match="the bias must be \\(5,\\)"):
        gc.conv2d(x, w, gc.tensor("b", (3,)))
