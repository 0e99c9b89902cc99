"""Reductions (sum, mean, max, min, logsumexp): forward against NumPy for every way to give an
axis, keepdims both ways, and gradients against finite differences. Mirrors
graphc/ops/reduce.py."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(1)


def _lse(a, axis=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = [("sum", gc.sum, np.sum), ("mean", gc.mean, np.mean), ("max", gc.max, np.max),
              ("min", gc.min, np.min), ("logsumexp", gc.logsumexp, _lse)]
AXES = [None, 0, 1, -1, -3, (0, 2), (-1, 0), (0, 1, 2), ()]


@pytest.fixture(scope="module")
def data():
    # distinct values: max has no ties, so its gradient is one-hot and finite differences agree
    return RNG.permutation(24).reshape(2, 3, 4) / 7.0 - 1.5


@pytest.mark.parametrize("name,f,ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_forward_matches_numpy(name, f, ref, axis, keepdims, data):
    x = gc.tensor("x", (2, 3, 4), "float64")
    y = f(x, axis=axis, keepdims=keepdims)
    expected = ref(data, axis=axis, keepdims=keepdims)
    assert y.shape == np.shape(expected)
    out = gc.compile(y)(x=data)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("name,f,ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", [None, 1, (0, 2), -1], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_gradient_matches_finite_differences(name, f, ref, axis, keepdims, data):
    x = gc.tensor("x", (2, 3, 4), "float64")
    y = f(x, axis=axis, keepdims=keepdims)
    w = gc.constant(RNG.standard_normal(np.shape(ref(data, axis=axis, keepdims=keepdims))),
                    dtype="float64")
    loss = gc.sum(y * w)
    assert gc.check_grad(loss, [x], {"x": data}, max_points=24)["x"] < 1e-6


def test_method_forms_match_functions(data):
    x = gc.tensor("x", (2, 3, 4), "float64")
    f = gc.compile([x.sum(), x.sum(1), x.mean(axis=(0, 1), keepdims=True), x.max(-1)])
    s, s1, m, mx = f(x=data)
    np.testing.assert_allclose(s, data.sum())
    np.testing.assert_allclose(s1, data.sum(1))
    np.testing.assert_allclose(m, data.mean(axis=(0, 1), keepdims=True))
    np.testing.assert_allclose(mx, data.max(-1))


def test_max_ties_share_the_gradient_equally():
    x = gc.tensor("x", (2, 3), "float64")
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    g = gc.compile(gc.grad(gc.sum(gc.max(x, axis=1)), x))(x=a)
    np.testing.assert_allclose(g, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("dtype,rtol", [
    ("float64", 1e-12),
    # float32 spacing at 1000 is 6.1e-5: exp(x - lse) inherits a few of those ulps as
    # relative error, whatever the formula; what must hold is finiteness and that bound
    ("float32", 3e-4),
])
def test_logsumexp_of_large_values_does_not_overflow(dtype, rtol):
    x = gc.tensor("x", (2, 3), dtype)
    a = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -1002.0]])
    f = gc.compile([gc.logsumexp(x, axis=1), gc.grad(gc.sum(gc.logsumexp(x, 1)), x)])
    lse, g = f(x=a.astype(dtype))
    expected = np.array([1000 + np.log1p(np.exp(-1.0)), -1000 + np.log1p(np.exp(-1) + np.exp(-2))])
    assert lse.dtype == dtype and np.all(np.isfinite(lse)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(lse, expected, rtol=1e-7 if dtype == "float32" else 1e-15)
    soft = np.exp(a - expected[:, None])
    np.testing.assert_allclose(g, soft, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=rtol)


def test_mean_over_a_symbolic_batch_divides_by_the_bound_size():
    x = gc.tensor("x", ("B", 3), "float64")
    m = gc.mean(x)
    m0 = gc.mean(x, axis=0)
    gx = gc.grad(m, x)
    f = gc.compile([m, m0, gx])
    for batch in (1, 5):
        a = RNG.standard_normal((batch, 3))
        mv, m0v, gv = f(x=a)
        np.testing.assert_allclose(mv, a.mean())
        np.testing.assert_allclose(m0v, a.mean(0))
        np.testing.assert_allclose(gv, np.full((batch, 3), 1 / (3 * batch)))


def test_reduction_of_symbolic_shapes():
    x = gc.tensor("x", ("B", "T", 4))
    assert x.sum(1).shape == (x.shape[0], 4)
    assert x.sum((0, 1), keepdims=True).shape == (1, 1, 4)
    assert x.max(axis=-1).shape == x.shape[:2]


def test_sum_of_bools_and_small_ints_counts_in_64_bits_as_numpy():
    b, i8 = gc.tensor("b", (3,), "bool"), gc.tensor("i8", (300,), "int8")
    assert gc.sum(b).dtype == "int64" and gc.sum(i8).dtype == "int64"
    assert gc.sum(gc.tensor("u", (3,), "uint8")).dtype == "uint64"
    vb = np.array([True, False, True])
    assert gc.compile(gc.sum(b))(b=vb) == 2            # not True
    assert gc.compile(gc.mean(b))(b=vb) == pytest.approx(2 / 3)
    assert gc.compile(gc.sum(i8))(i8=np.ones(300, np.int8)) == 300  # not 44 (wrapped)


def test_logsumexp_of_integers_is_a_float():
    k = gc.tensor("k", (2, 3), "int64")
    y = gc.logsumexp(k, axis=1)
    assert y.dtype == "float32"
    vk = np.arange(6).reshape(2, 3)
    np.testing.assert_allclose(gc.compile(y)(k=vk), _lse(vk.astype(float), 1), rtol=1e-6)


def test_reductions_over_an_empty_axis():
    x = gc.tensor("x", ("B", 3))
    empty = np.ones((0, 3), np.float32)
    # log(sum(exp(nothing))) = log 0, as torch.logsumexp and scipy say
    np.testing.assert_array_equal(gc.compile(gc.logsumexp(x, axis=0))(x=empty),
                                  np.full(3, -np.inf, np.float32))
    assert gc.compile(gc.sum(x))(x=empty) == 0
    with pytest.raises(ValueError, match=r"max: cannot reduce axes \(0, 1\) of an array of "
                                         r"shape \(0, 3\)"):
        gc.compile(gc.max(x))(x=empty)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_a_mean_of_integers_sums_in_float64_as_numpys(backend):
    # their int64 sum wrapped: the mean of [5, 7, 2**62, 3, 2**62, 2**62] was negative
    x = gc.tensor("x", ("B", 3), "int64")
    a = np.array([[5, 7, 2**62], [3, 2**62, 2**62]], np.int64)
    rows, whole = gc.compile([gc.mean(x, axis=1), gc.mean(x)], backend=backend)(x=a)
    assert rows.dtype == whole.dtype == np.float32  # graphc's float for integer means
    np.testing.assert_allclose(rows, np.mean(a, axis=1), rtol=1e-6)
    np.testing.assert_allclose(whole, np.mean(a), rtol=1e-6)
    assert np.isnan(gc.compile(gc.mean(x), backend=backend)(x=np.zeros((0, 3), np.int64)))
