"""Layout ops (reshape with -1, transpose, broadcast_to): forward against NumPy and
gradients against finite differences, on static and symbolic shapes. Mirrors
graphc/ops/layout.py."""
import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.ir.shapes import dim

RNG = np.random.default_rng(2)


@pytest.mark.parametrize("shape,new", [
    ((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1)), ((2, 3, 4), (2, -1, 2)),
    ((6,), (1, 6, 1)), ((), (1, 1)), ((1, 1), ()), ((2, 3), -1),
], ids=str)
def test_reshape_matches_numpy(shape, new):
    x = gc.tensor("x", shape, "float64")
    a = RNG.standard_normal(shape)
    y = gc.reshape(x, new)
    expected = a.reshape(new)
    assert y.shape == expected.shape
    np.testing.assert_array_equal(gc.compile(y)(x=a), expected)
    w = gc.constant(RNG.standard_normal(expected.shape), dtype="float64")
    assert gc.check_grad(gc.sum(y * w), [x], {"x": a})["x"] < 1e-8


def test_reshape_method_forms():
    x = gc.tensor("x", (2, 3, 4))
    assert x.reshape(4, -1).shape == (4, 6)
    assert x.reshape((24,)).shape == (24,)
    assert x.reshape(2, 3, 4) is x  # nothing to do, no node


def test_reshape_with_symbolic_dims():
    x = gc.tensor("x", ("B", 4, 3), "float64")
    B = dim("B")
    flat = x.reshape(-1)
    rows = x.reshape(-1, 3)
    per_batch = x.reshape("B", -1)
    assert flat.shape == (12 * B,) and rows.shape == (4 * B, 3) and per_batch.shape == (B, 12)
    f = gc.compile([flat, rows, per_batch, gc.grad(gc.sum(rows * rows), x)])
    for batch in (1, 3):
        a = RNG.standard_normal((batch, 4, 3))
        r_flat, r_rows, r_pb, g = f(x=a)
        np.testing.assert_array_equal(r_flat, a.reshape(-1))
        np.testing.assert_array_equal(r_rows, a.reshape(-1, 3))
        np.testing.assert_array_equal(r_pb, a.reshape(batch, -1))
        np.testing.assert_allclose(g, 2 * a)


@pytest.mark.parametrize("shape,axes", [
    ((3, 4), None), ((2, 3, 4), None), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (2, 0, 1)),
    ((2, 3, 4), (-1, 0, 1)), ((5,), None),
], ids=str)
def test_transpose_matches_numpy(shape, axes):
    x = gc.tensor("x", shape, "float64")
    a = RNG.standard_normal(shape)
    y = gc.transpose(x, axes)
    expected = np.transpose(a, axes)
    assert y.shape == expected.shape
    np.testing.assert_array_equal(gc.compile(y)(x=a), expected)
    w = gc.constant(RNG.standard_normal(expected.shape), dtype="float64")
    assert gc.check_grad(gc.sum(y * w), [x], {"x": a})["x"] < 1e-8


def test_dot_T_and_transpose_method():
    x = gc.tensor("x", ("B", 3), "float64")
    a = RNG.standard_normal((5, 3))
    t1, t2, t3 = gc.compile([x.T, x.transpose(1, 0), x.transpose()])(x=a)
    for t in (t1, t2, t3):
        np.testing.assert_array_equal(t, a.T)
    assert x.T.shape == (3, dim("B"))
    assert x.transpose(0, 1) is x


@pytest.mark.parametrize("shape,target", [
    ((4,), (3, 4)), ((3, 1), (3, 4)), ((), (2, 3)), ((1, 4), (2, 3, 4)), ((2, 1, 4), (2, 3, 4)),
], ids=str)
def test_broadcast_to_matches_numpy_and_sums_back(shape, target):
    x = gc.tensor("x", shape, "float64")
    a = RNG.standard_normal(shape)
    y = gc.broadcast_to(x, target)
    np.testing.assert_array_equal(gc.compile(y)(x=a), np.broadcast_to(a, target))
    w = RNG.standard_normal(target)
    # the gradient reads no input (it is w, summed): `inputs` keeps x an input all the same
    g = gc.compile(gc.grad(gc.sum(y * gc.constant(w, dtype="float64")), x), inputs=[x])(x=a)
    # the gradient of a broadcast is the cotangent summed over the broadcast axes
    lead = len(target) - len(shape)
    expected = w.sum(axis=tuple(range(lead))) if lead else w
    expected = expected.sum(axis=tuple(k for k, d in enumerate(shape) if d == 1),
                            keepdims=True) if shape else expected
    np.testing.assert_allclose(g, expected.reshape(shape), rtol=1e-12)


def test_broadcast_to_symbolic_target():
    x = gc.tensor("x", (3,), "float64")
    y = gc.broadcast_to(x, ("B", 3))
    assert y.shape == (dim("B"), 3)
    assert isinstance(y.shape[0], sympy.Symbol)
