"""The cpu backend equals the reference on every op and every model of the suite, optimized
and not, at more than one batch size; its programs are readable and inspectable.
Mirrors graphc/backend/numba/ (compile times: the kernels are shared through the cache)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from cpu_cases import CASES
from special_graphs import special_graph

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def assert_agree(outputs, feeds, opt_level=None):
    ref = gc.compile(outputs, backend="reference", opt_level=opt_level)
    cpu = gc.compile(outputs, backend="cpu", opt_level=opt_level)
    with np.errstate(all="ignore"):
        want, got = ref(**feeds), cpu(**feeds)
    for k, (w, g) in enumerate(zip(want, got)):
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"output {k}")
            np.testing.assert_allclose(g, w, err_msg=f"output {k}", **tolerance(w.dtype))
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {k}")
    return cpu


@pytest.mark.parametrize("opt_level", [0, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_cpu_equals_reference(case, opt_level):
    outputs, feeds = case()
    assert_agree(outputs, feeds, opt_level)


def test_one_compiled_function_serves_every_batch_size():
    outputs, feeds = CASES[6]()  # the MLP's training graph
    cpu = gc.compile(outputs, backend="cpu")
    ref = gc.compile(outputs, backend="reference")
    rng = np.random.default_rng(1)
    for batch in (1, 7, 64, 0):
        f = dict(feeds, x=rng.standard_normal((batch, 6)).astype(np.float32),
                 y=rng.integers(0, 3, batch))
        with np.errstate(all="ignore"):
            for w, g in zip(ref(**f), cpu(**f)):
                np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_outputs_are_fresh_arrays_that_a_later_call_does_not_touch():
    x = gc.tensor("x", ("B", 3))
    f = gc.compile([gc.exp(x), x, gc.sum(x)], backend="cpu")
    a = np.ones((2, 3), np.float32)
    first = f(x=a)
    kept = [o.copy() for o in first]
    f(x=a * 5)
    for o, k in zip(first, kept):
        np.testing.assert_array_equal(o, k)
    assert first[1] is not a and not np.shares_memory(first[1], a)


def test_the_source_and_the_kernels_can_be_read():
    outputs, feeds = CASES[6]()
    f = gc.compile(outputs, backend="cpu")
    src = f.impl.source
    assert "def run0(" in src and "@njit(cache=True" in src
    kernels = f.impl.kernels
    assert kernels and all(k.runs in ("generated", "BLAS or generated") for k in kernels)
    assert any("matmul" in k.provenance for k in kernels)


@settings(max_examples=40)
@given(built=special_graph(), opt_level=st.sampled_from([0, 2]))
def test_cpu_equals_reference_on_random_graphs_with_special_values(built, opt_level):
    # NaN, +-Inf, +-0, subnormal values, empty batches, bool and small ints. Not huge values:
    # NumPy sums long float arrays pairwise and the kernels in order, and where a sum's order
    # decides whether it overflows the two may differ (tests/passes/test_sound_optimizer.py
    # runs huge values through one backend, optimized or not, where the order is the same)
    feeds = {k: np.where(np.abs(v) > 1e30, np.sign(v) * 7, v).astype(v.dtype)
             if v.dtype.kind == "f" else v for k, v in built.feeds.items()}
    ref = gc.compile(built.outputs, inputs=built.inputs, backend="reference", opt_level=opt_level)
    cpu = gc.compile(built.outputs, inputs=built.inputs, backend="cpu", opt_level=opt_level)
    with np.errstate(all="ignore"):
        try:
            want = ref(**feeds)
        except ValueError:  # a maximum over no elements: the cpu kernel says so too
            with pytest.raises(ValueError):
                cpu(**feeds)
            return
        got = cpu(**feeds)
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=str(built))
        inf = np.isinf(w)
        np.testing.assert_array_equal(g[inf], w[inf], err_msg=str(built))
        finite = np.isfinite(w) & np.isfinite(g)
        scale = np.maximum(np.abs(w[finite]), 1e-30)
        # transcendental functions may differ by ulps between NumPy and LLVM: relative
        # error within a few float32 ulps, with subnormal results an absolute matter
        tiny = np.finfo(w.dtype).tiny
        err = np.abs(g[finite] - w[finite])
        assert np.all((err <= 1e-5 * scale) | (err <= 8 * tiny)), str(built)


def test_logsumexp_of_infinities_and_nan_is_numpys():
    # rows: +inf twice (inf - inf must not make a NaN), -inf only, a NaN, +inf with finite
    x = gc.tensor("x", (5, 3), "float64")
    rows = np.array([[np.inf, np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [np.nan, 0.0, 1.0],
                     [np.inf, -2.0, 3.0], [1e308, 1e308, -np.inf]])
    for axis in (1, 0):
        f = assert_agree([gc.logsumexp(x, axis=axis)], {"x": rows})
    column_major = np.asfortranarray(rows)  # the same values through another layout
    np.testing.assert_array_equal(f(x=column_major)[0], gc.compile(
        gc.logsumexp(x, axis=0), backend="reference")(x=rows))
