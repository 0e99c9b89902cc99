"""softmax, log_softmax and cross_entropy: exact to rounding at logits of any size, -inf
logits (an additive mask) give torch's values and finite gradients, a row of -inf (or one
holding +inf) is nan, gradients against finite differences and to second order. Mirrors
graphc/ops/normalize.py."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(11)


def softmax64(z, axis=-1):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax64(z, axis=-1):
    z = np.asarray(z, np.float64)
    s = z - z.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("opt_level", [0, 2])
def test_float32_softmax_rows_sum_to_one_at_logits_of_1e4(opt_level):
    z = gc.tensor("z", ("B", 10))
    logits = (1e4 + RNG.standard_normal((64, 10)) * 3).astype(np.float32)
    p = gc.compile(gc.softmax(z), opt_level=opt_level)(z=logits)
    assert p.dtype == np.float32
    assert np.abs(p.sum(axis=-1) - 1).max() < 2e-6
    np.testing.assert_allclose(p, softmax64(logits), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("opt_level", [0, 2])
def test_log_softmax_and_cross_entropy_at_1e4_are_within_1e5_of_float64(opt_level):
    z, y = gc.tensor("z", ("B", 10)), gc.tensor("y", ("B",), "int64")
    logits = (1e4 + RNG.standard_normal((64, 10)) * 3).astype(np.float32)
    labels = RNG.integers(0, 10, 64)
    ls, ce, each = gc.compile([gc.log_softmax(z), gc.cross_entropy(z, y),
                               gc.cross_entropy(z, y, reduction="none")],
                              opt_level=opt_level)(z=logits, y=labels)
    want = log_softmax64(logits)
    np.testing.assert_allclose(ls, want, rtol=1e-5)
    want_each = -want[np.arange(64), labels]
    np.testing.assert_allclose(each, want_each, rtol=1e-5)
    np.testing.assert_allclose(ce, want_each.mean(), rtol=1e-5)


def test_minus_inf_logits_get_zero_probability_and_finite_gradients():
    z, y = gc.tensor("z", (2, 4), "float64"), gc.tensor("y", (2,), "int64")
    mask = np.array([[0.0, -np.inf, 0.0, -np.inf], [-np.inf, 0.0, 0.0, 0.0]])
    logits = RNG.standard_normal((2, 4)) + mask
    labels = np.array([2, 1])
    loss = gc.cross_entropy(z, y)
    p, lsm, ce, gz = gc.compile([gc.softmax(z), gc.log_softmax(z), loss,
                                 gc.grad(loss, z)])(z=logits, y=labels)
    assert np.isfinite(ce) and np.isfinite(gz).all()
    np.testing.assert_array_equal(p[mask == -np.inf], 0.0)
    np.testing.assert_array_equal(lsm[mask == -np.inf], -np.inf)
    finite = mask == 0
    np.testing.assert_allclose(lsm[finite], log_softmax64(logits)[finite], rtol=1e-12)
    # torch: d ce / dz = (softmax - onehot) / B, 0 at the masked logits
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(gz, (softmax64(logits) - onehot) / 2, atol=1e-15)


def test_a_row_of_minus_inf_is_nan_as_in_torch():
    z = gc.tensor("z", (2, 3))
    logits = np.array([[-np.inf] * 3, [0.0, 1.0, 2.0]], np.float32)
    p, lsm = gc.compile([gc.softmax(z), gc.log_softmax(z)])(z=logits)
    assert np.isnan(p[0]).all() and np.isnan(lsm[0]).all()
    assert np.isfinite(p[1]).all()


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_a_row_holding_plus_inf_is_nan_as_in_torch(backend):
    """log_softmax leaves the maximum's exp(0) = 1 out of its sum (log1p): with a maximum
    of +inf that term is exp(nan), which it once dropped too, giving [nan, -inf, -inf]."""
    z, y = gc.tensor("z", (3, 3)), gc.tensor("y", (3,), "int64")
    logits = np.array([[np.inf, 0.0, 1.0], [1.0, np.inf, np.inf], [0.0, 1.0, 2.0]],
                      np.float32)
    p, lsm, ce, lse = gc.compile(
        [gc.softmax(z), gc.log_softmax(z), gc.cross_entropy(z, y, reduction="none"),
         gc.logsumexp(z, axis=-1)], backend=backend)(z=logits, y=np.array([1, 0, 2]))
    assert np.isnan(p[:2]).all() and np.isnan(lsm[:2]).all() and np.isnan(ce[:2]).all()
    np.testing.assert_allclose(lsm[2], log_softmax64(logits[2]), rtol=1e-6)
    assert np.isfinite(ce[2]) and lse.tolist()[:2] == [np.inf, np.inf]  # torch's, too


def test_softmax_of_integers_is_float32():
    i = gc.tensor("i", (3,), "int64")
    assert gc.softmax(i).dtype == "float32" and gc.log_softmax(i).dtype == "float32"
    assert gc.logsumexp(i).dtype == "float32"
    for level in (0, 2):
        out = gc.compile([gc.softmax(i), gc.logsumexp(i)], opt_level=level)(i=[1, 2, 3])
        assert [o.dtype for o in out] == [np.float32, np.float32]


@pytest.mark.parametrize("op", [gc.softmax, gc.log_softmax])
@pytest.mark.parametrize("axis", [0, -1])
def test_gradients_match_finite_differences(op, axis):
    z, w = gc.tensor("z", (3, 4), "float64"), gc.tensor("w", (3, 4), "float64")
    loss = gc.sum(op(z, axis=axis) * w)
    gc.check_grad(loss, [z], {"z": RNG.standard_normal((3, 4)), "w": RNG.standard_normal((3, 4))})


@pytest.mark.parametrize("op", [gc.softmax, gc.log_softmax])
def test_second_order(op):
    z, v = gc.tensor("z", (4,), "float64"), gc.tensor("v", (4,), "float64")
    (g,) = gc.grad(gc.sum(op(z) * op(z)), [z])
    gc.check_grad(gc.sum(g * v), [z], {"z": RNG.standard_normal(4), "v": RNG.standard_normal(4)})


def test_an_empty_batch_mean_is_nan_at_every_opt_level():
    x, t = gc.tensor("x", ("B", 3)), gc.tensor("t", ("B", 3))
    z, y = gc.tensor("z", ("B", 5)), gc.tensor("y", ("B",), "int64")
    outs = [gc.mean(x), gc.mean(x, axis=0), gc.mse_loss(x, t), gc.cross_entropy(z, y)]
    empty = dict(x=np.zeros((0, 3), np.float32), t=np.zeros((0, 3), np.float32),
                 z=np.zeros((0, 5), np.float32), y=np.zeros(0, np.int64))
    for level in (0, 1, 2):
        for fast in (False, True):
            if fast and level != 2:
                continue
            with np.errstate(all="ignore"):
                m, cols, mse, ce = gc.compile(outs, opt_level=level, fast_math=fast)(**empty)
            assert np.isnan(m) and np.isnan(cols).all() and cols.shape == (3,)
            assert np.isnan(mse) and np.isnan(ce), (level, fast)
