"""Comparisons, where, and the min/max family (maximum, minimum, abs, clip): forward against
NumPy (NaN, integers, Python scalars, the operators), gradients against finite differences
and against torch at ties, second order, fusion into one kernel, and the identity-based
equality graphc itself relies on. Mirrors the comparison and min/max part of
graphc/ops/elementwise.py."""
import operator

import numpy as np
import pytest

import graphc as gc
from graphc.passes.kernels import kernels

RNG = np.random.default_rng(11)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, 3.0])

COMPARISONS = [("greater", gc.greater, operator.gt, np.greater),
               ("greater_equal", gc.greater_equal, operator.ge, np.greater_equal),
               ("less", gc.less, operator.lt, np.less),
               ("less_equal", gc.less_equal, operator.le, np.less_equal),
               ("equal", gc.equal, operator.eq, np.equal),
               ("not_equal", gc.not_equal, operator.ne, np.not_equal)]


@pytest.mark.parametrize("name,fn,op,ref", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons_give_bool_tensors_as_numpy(name, fn, op, ref):
    a, b = gc.tensor("a", ("B", 8), "float64"), gc.tensor("b", (8,), "float32")
    i = gc.tensor("i", ("B", 8), "int8")
    outs = [fn(a, b), op(a, b), op(a, 1.0), op(2, a), op(i, 3), op(i, b), op(b, np.float64(0))]
    assert all(o.dtype == "bool" for o in outs)
    A = SPECIAL[RNG.integers(0, 8, (3, 8))]
    Bv = SPECIAL.astype(np.float32)
    I = RNG.integers(-4, 5, (3, 8)).astype(np.int8)
    got = gc.compile(outs)(a=A, b=Bv, i=I)
    want = [ref(A, Bv), ref(A, Bv), ref(A, 1.0), ref(2, A), ref(I, 3), ref(I, Bv), ref(Bv, 0)]
    for g, w in zip(got, want):
        assert g.dtype == np.bool_
        np.testing.assert_array_equal(g, w)


def test_comparisons_have_no_gradient_and_where_routes_it():
    x = gc.tensor("x", (5,), "float64")
    m = x > 0.5
    (g,) = gc.grad(gc.sum(gc.where(m, x * 3.0, x * x)), [x])
    X = np.array([-1.0, 0.2, 0.6, 2.0, 0.5])
    np.testing.assert_allclose(gc.compile(g)(x=X), np.where(X > 0.5, 3.0, 2 * X))


def test_comparing_with_something_not_a_tensor_is_identity():
    x = gc.tensor("x", (3,))
    assert (x == None) is False and (x != "x") is True  # noqa: E711
    assert x not in [None, "x", 3.5j] and x in {x: 1}


def test_nodes_stay_hashable_and_tensors_cannot_be_tested_for_truth():
    x = gc.tensor("x", (3,))
    y = x * 2
    assert len({x, y, x}) == 2
    with pytest.raises(TypeError, match="no truth value"):
        bool(x == y)
    with pytest.raises(TypeError, match="no truth value"):
        _ = x in [y]  # a list lookup compares with ==: graphc code never does this


MINMAX = [("maximum", gc.maximum, np.maximum), ("minimum", gc.minimum, np.minimum)]


@pytest.mark.parametrize("name,fn,ref", MINMAX, ids=[m[0] for m in MINMAX])
def test_maximum_and_minimum_propagate_nan_and_keep_integers(name, fn, ref):
    a, b = gc.tensor("a", ("B", 8), "float32"), gc.tensor("b", (8,), "float32")
    i, j = gc.tensor("i", (4,), "int32"), gc.tensor("j", (4,), "int8")
    A = SPECIAL[RNG.integers(0, 8, (2, 8))].astype(np.float32)
    Bv = SPECIAL.astype(np.float32)
    I, J = np.array([1, -5, 7, 0], np.int32), np.array([3, -2, 7, -9], np.int8)
    outs = [fn(a, b), fn(i, j), fn(i, 2), fn(a, 0.5)]
    assert [o.dtype for o in outs] == ["float32", "int32", "int32", "float32"]
    got = gc.compile(outs)(a=A, b=Bv, i=I, j=J)
    for g, w in zip(got, [ref(A, Bv), ref(I, J), ref(I, 2), ref(A, np.float32(0.5))]):
        np.testing.assert_array_equal(g, w)


def test_abs_and_clip_as_numpy():
    a = gc.tensor("a", ("B", 8), "float64")
    i = gc.tensor("i", (4,), "int16")
    lo, hi = gc.tensor("lo", (8,), "float64"), gc.tensor("hi", (), "float64")
    A = SPECIAL[RNG.integers(0, 8, (3, 8))]
    I = np.array([-3, 0, 5, -32768], np.int16)
    LO, HI = RNG.uniform(-2, 0, 8), np.float64(1.5)
    outs = [gc.abs(a), abs(a), gc.abs(i), gc.clip(a, -1.0, 2.0), gc.clip(a, lo, hi),
            gc.clip(a, None, 0.0), gc.clip(a, 0.5, None), gc.clip(a, 2.0, -1.0), gc.clip(i, -2, 3)]
    got = gc.compile(outs)(a=A, i=I, lo=LO, hi=HI)
    want = [np.abs(A), np.abs(A), np.abs(I), np.clip(A, -1, 2), np.clip(A, LO, HI),
            np.clip(A, None, 0.0), np.clip(A, 0.5, None), np.clip(A, 2.0, -1.0), np.clip(I, -2, 3)]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
    with pytest.raises(ValueError, match="give lo, hi or both"):
        gc.clip(a, None, None)


@pytest.mark.parametrize("f", [
    lambda x, y: gc.maximum(x, y), lambda x, y: gc.minimum(x, y * 2.0),
    lambda x, y: gc.abs(x) * y, lambda x, y: gc.clip(x, -0.7, 0.4) + gc.clip(y, x, 1.0),
    lambda x, y: gc.where(x > y, x * y, gc.exp(y))],
    ids=["maximum", "minimum", "abs", "clip", "where"])
def test_gradients_match_finite_differences_away_from_ties(f):
    x, y = gc.tensor("x", (3, 4), "float64"), gc.tensor("y", (4,), "float64")
    X = RNG.choice([-1, 1], (3, 4)) * RNG.uniform(0.1, 2.0, (3, 4))
    Y = RNG.uniform(-1.5, 1.5, 4)
    w = gc.constant(RNG.standard_normal((3, 4)), "float64")
    gc.check_grad(gc.sum(f(x, y) * w), [x, y], {"x": X, "y": Y})


def test_gradients_at_ties_follow_torch():
    torch = pytest.importorskip("torch")
    x, y = gc.tensor("x", (8,), "float64"), gc.tensor("y", (8,), "float64")
    # ties, infinite ones included (inf - inf is NaN: each side had 1), and NaN
    X = np.array([1.0, 2.0, -1.0, 0.0, 0.5, np.nan, np.inf, -np.inf])
    Y = np.array([1.0, 3.0, -1.0, 0.0, -1.0, 2.0, np.inf, -np.inf])
    lo, hi = -1.0, 0.5  # X holds both bounds exactly
    outs = [gc.maximum(x, y), gc.minimum(x, y), gc.abs(x), gc.clip(x, lo, hi)]
    got = gc.compile([g for o in outs for g in gc.grad(gc.sum(o * 1.0), [x, y])])(x=X, y=Y)
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (X, Y))
    want = []
    for o in (torch.maximum(tx, ty), torch.minimum(tx, ty), torch.abs(tx) + 0 * ty,
              torch.clamp(tx, lo, hi) + 0 * ty):
        gx, gy = torch.autograd.grad(o.sum(), [tx, ty])
        want += [gx.numpy(), gy.numpy()]
    for k, (g, w) in enumerate(zip(got, want)):
        if k == 4:  # d|x|/dx at NaN is sign(NaN), NaN, as JAX's; torch's is 0
            assert np.isnan(g[5]) and w[5] == 0
            g, w = np.delete(g, 5), np.delete(w, 5)
        np.testing.assert_array_equal(g, w, err_msg=str(k))


def test_second_order_through_where_maximum_and_abs():
    x = gc.tensor("x", (2, 5), "float64")
    X = RNG.choice([-1, 1], (2, 5)) * RNG.uniform(0.2, 2.0, (2, 5))
    v = gc.constant(RNG.standard_normal((2, 5)), "float64")
    for f in (lambda t: gc.where(t > 0, t * t * t, gc.exp(t)),
              lambda t: gc.maximum(t * t, t * 0.5 + 0.1) * t,
              lambda t: gc.abs(t) * t * t):
        (g,) = gc.grad(gc.sum(f(x)), [x])
        gc.check_grad(gc.sum(g * v), [x], {"x": X})


def test_where_of_a_mask_and_its_negation_fuses_into_one_kernel():
    x, m = gc.tensor("x", ("B", 8)), gc.tensor("m", ("B", 8), "bool")
    for y in (gc.relu(gc.where(m, x, -x) * 2), gc.relu(gc.where(x > 0, x, -x) * 2),
              gc.clip(gc.maximum(gc.abs(x), 0.1), 0, 1) + (x <= 0.5)):
        f = gc.compile(y)
        assert [n.op for n in kernels(f.graph)] == ["elementwise"]
        X = RNG.standard_normal((3, 8)).astype(np.float32)
        M = X > 0.3
        plain = gc.compile(y, opt_level=0)
        feeds = {k: v for k, v in (("x", X), ("m", M)) if k in f.input_names}
        np.testing.assert_array_equal(f(**feeds), plain(**feeds))


def test_operators_on_parameters_and_symbolic_batches():
    gc.nn.manual_seed(0)
    p = gc.nn.Parameter(np.array([1.0, -2.0, 3.0], np.float32))
    x = gc.tensor("x", ("B", 3))
    y = gc.where(x > p, x, p) + gc.maximum(p, x) + (x == p)
    f = gc.nn.function(y)
    for b in (0, 1, 4):
        X = RNG.standard_normal((b, 3)).astype(np.float32)
        P = p.value
        np.testing.assert_allclose(f(x=X), np.where(X > P, X, P) + np.maximum(P, X) + (X == P))
