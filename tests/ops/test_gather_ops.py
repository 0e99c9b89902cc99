"""Gathers (take, take_along_axis) and their scatter-add gradients, positions and masks
(arange, tril, triu), argmax: forward against NumPy and torch, repeated and negative
indices, out-of-range indices (an InputError naming the input, at call time), gradients to
second order, symbolic batch sizes. Mirrors graphc/ops/gather.py, the arange of
graphc/ops/source.py and the argmax of graphc/ops/reduce.py."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(9)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_take_matches_numpy_with_repeated_and_negative_indices(axis):
    a = gc.tensor("a", (4, 5, 3), "float64")
    i = gc.tensor("i", ("B", 2), "int32")
    A = RNG.standard_normal((4, 5, 3))
    n = A.shape[axis]
    I = np.array([[0, n - 1], [-1, 0], [1, 1]], np.int32)
    y = gc.take(a, i, axis=axis)
    want = np.take(A, I, axis=axis)
    assert y.ndim == want.ndim and y.dtype == "float64"
    np.testing.assert_array_equal(gc.compile(y)(a=A, i=I), want)
    # the gradient scatter-adds: repeated indices add up
    G = RNG.standard_normal(want.shape)
    w = gc.tensor("w", y.shape, "float64")
    (ga,) = gc.grad(gc.sum(y * w), [a])
    expected = np.zeros_like(A)
    np.add.at(expected, (slice(None),) * (axis % 3) + (I,), G)
    np.testing.assert_allclose(gc.compile(ga)(i=I, w=G), expected, rtol=1e-12)  # linear
    gc.check_grad(gc.sum(gc.tanh(y)), [a], {"a": A, "i": I})


def test_take_and_its_gradient_match_torch_embedding():
    torch = pytest.importorskip("torch")
    table, ids = gc.tensor("table", (7, 4), "float64"), gc.tensor("ids", ("B", "T"), "int64")
    T, I = RNG.standard_normal((7, 4)), RNG.integers(0, 7, (3, 5))
    y = gc.take(table, ids)
    C = RNG.standard_normal((3, 5, 4))
    c = gc.tensor("c", ("B", "T", 4), "float64")
    got = gc.compile([y] + gc.grad(gc.sum(y * c), [table]))(table=T, ids=I, c=C)
    tt = torch.tensor(T, requires_grad=True)
    want = torch.nn.functional.embedding(torch.tensor(I), tt)
    (want * torch.tensor(C)).sum().backward()
    np.testing.assert_allclose(got[0], want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[1], tt.grad.numpy(), rtol=1e-12)


def test_take_along_axis_matches_numpy_and_torch_gather():
    a = gc.tensor("a", ("B", 6), "float64")
    j = gc.tensor("j", ("B", 3), "int64")
    A, J = RNG.standard_normal((4, 6)), RNG.integers(-6, 6, (4, 3))
    y = gc.take_along_axis(a, j, axis=1)
    np.testing.assert_array_equal(gc.compile(y)(a=A, j=J), np.take_along_axis(A, J, 1))
    gc.check_grad(gc.sum(y * y * y), [a], {"a": A, "j": J})
    # indices broadcast against a on the other axes, as NumPy's; a's gradient sums them back
    b = gc.tensor("b", (1, 6), "float64")
    z = gc.take_along_axis(b, j, axis=1)
    assert str(z.shape) == "(B, 3)"
    Bv = RNG.standard_normal((1, 6))
    np.testing.assert_array_equal(gc.compile(z)(b=Bv, j=J),
                                  np.take_along_axis(np.broadcast_to(Bv, (4, 6)), J, 1))
    gc.check_grad(gc.sum(gc.exp(z)), [b], {"b": Bv, "j": J})
    torch = pytest.importorskip("torch")
    Jp = J % 6
    ta = torch.tensor(A, requires_grad=True)
    torch.gather(ta, 1, torch.tensor(Jp)).pow(3).sum().backward()
    (ga,) = gc.grad(gc.sum(y * y * y), [a])
    np.testing.assert_allclose(gc.compile(ga)(a=A, j=Jp), ta.grad.numpy(), rtol=1e-12)


def test_second_order_through_take():
    a = gc.tensor("a", (5, 3), "float64")
    i = gc.constant(np.array([4, 0, 4, 2, -1]))
    A = RNG.standard_normal((5, 3))
    y = gc.take(a, i)
    (g,) = gc.grad(gc.sum(y ** 3), [a])
    gc.check_grad(gc.sum(g * g), [a], {"a": A})
    (g2,) = gc.grad(gc.sum(g * g), [a])
    assert {n.op for n in gc.Graph.of([g2]).nodes()} >= {"take", "scatter_add"}


def test_indices_out_of_range_are_an_input_error_naming_the_input():
    a = gc.tensor("a", (5, 2))
    ids = gc.tensor("ids", ("B",), "int64")
    f = gc.compile(gc.take(a, gc.reshape(ids, (-1, 1))))  # through a view: the same values
    f(a=np.zeros((5, 2), np.float32), ids=np.array([0, 4, -5]))
    for bad in (5, -6):
        with pytest.raises(gc.InputError, match=f"input 'ids': take: index {bad} is out of "
                                                r"range \[-5, 5\)"):
            f(a=np.zeros((5, 2), np.float32), ids=np.array([0, bad]))
    j = gc.tensor("j", (2, 1), "int32")
    g = gc.compile(gc.take_along_axis(a, j, axis=0))
    with pytest.raises(gc.InputError, match="input 'j': take_along_axis: index 7"):
        g(a=np.zeros((5, 2), np.float32), j=np.array([[7], [0]], np.int32))
    # computed indices are checked when the gather runs
    h = gc.compile(gc.take(a, gc.argmax(gc.tensor("s", (3, 9)), axis=1)))
    with pytest.raises(IndexError, match="take: index 8 is out of range"):
        h(a=np.zeros((5, 2), np.float32), s=np.eye(3, 9, 8, dtype=np.float32))


def test_gather_shape_errors():
    a = gc.tensor("a", (5, 2))
    with pytest.raises(gc.ShapeError, match="take: indices must be integers, got float32"):
        gc.take(a, gc.tensor("f", (3,)))
    with pytest.raises(gc.ShapeError, match="axis 2 is out of range"):
        gc.take(a, [0, 1], axis=2)
    with pytest.raises(gc.ShapeError, match=r"take_along_axis: indices \(3,\) need the rank"):
        gc.take_along_axis(a, gc.tensor("i", (3,), "int64"), axis=0)
    with pytest.raises(gc.ShapeError, match="do not broadcast"):
        gc.take_along_axis(a, gc.tensor("i", (3, 3), "int64"), axis=0)


def test_arange_tril_and_triu_with_symbolic_sizes():
    x = gc.tensor("x", ("B", "T", "T"), "float64")
    outs = [gc.arange("T"), gc.arange(4), gc.tril(x), gc.triu(x, 1), gc.tril(x, -1),
            gc.triu(x > 0)]
    assert [o.dtype for o in outs] == ["int64", "int64", "float64", "float64", "float64",
                                       "bool"]
    assert str(outs[0].shape) == "(T,)" and str(outs[2].shape) == "(B, T, T)"
    f = gc.compile(outs, inputs=[x])
    for T in (1, 3, 5):
        X = RNG.standard_normal((2, T, T))
        got = f(x=X)
        want = [np.arange(T), np.arange(4), np.tril(X), np.triu(X, 1), np.tril(X, -1),
                np.triu(X > 0)]
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    (g,) = gc.grad(gc.sum(gc.tril(x) * x), [x])
    X = RNG.standard_normal((2, 3, 3))
    np.testing.assert_allclose(gc.compile(g)(x=X), 2 * np.tril(X))
    r = gc.tensor("r", (3, 4), "float64")  # not square, as np.tril allows
    R = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(gc.compile(gc.triu(r, -1))(r=R), np.triu(R, -1))
    with pytest.raises(gc.ShapeError, match="tril: needs a tensor of rank >= 2"):
        gc.tril(gc.tensor("v", (3,)))


def test_argmax_gives_int64_first_maximum_and_no_gradient():
    x = gc.tensor("x", ("B", 4), "float32")
    X = np.array([[1, 3, 3, 0], [np.nan, 1, np.nan, 2], [-1, -1, -1, -1]], np.float32)
    a0, a1, m = gc.argmax(x, 0), x.argmax(), gc.argmax(x, axis=-1)
    assert a0.dtype == "int64" and str(a1.shape) == "(B,)"
    r0, r1, rm = gc.compile([a0, a1, m])(x=X)
    np.testing.assert_array_equal(r0, np.argmax(X, 0))
    np.testing.assert_array_equal(r1, np.argmax(X, 1))
    np.testing.assert_array_equal(rm, np.argmax(X, -1))
    # an integer result cuts the gradient path (it is piecewise constant)
    (g,) = gc.grad(gc.sum(x) + gc.sum(gc.astype(gc.argmax(x, 1), "float32")), [x])
    np.testing.assert_array_equal(gc.compile(g, inputs=[x])(x=X), np.ones_like(X))
    with pytest.raises(gc.ShapeError, match="argmax: axis 2 is out of range"):
        gc.argmax(x, 2)


def test_min_reduction_matches_numpy_and_torch_amin_at_ties():
    x = gc.tensor("x", (2, 3), "float64")
    X = np.array([[1.0, -3.0, -3.0], [2.0, 2.0, 2.0]])
    m, g = gc.min(x, axis=1), gc.grad(gc.sum(gc.min(x, axis=1)), [x])[0]
    got_m, got_g = gc.compile([m, g])(x=X)
    np.testing.assert_array_equal(got_m, X.min(1))
    np.testing.assert_allclose(got_g, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    assert str(gc.tensor("y", ("B", 3)).min(0, keepdims=True).shape) == "(1, 3)"
    torch = pytest.importorskip("torch")
    t = torch.tensor(X, requires_grad=True)
    torch.amin(t, 1).sum().backward()
    np.testing.assert_allclose(got_g, t.grad.numpy())
