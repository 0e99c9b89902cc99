"""Backend "cuda" equals the reference on every op family and on the suite's models, optimized
and not: elementwise kernels (floats, ints, bools, literals), each reduction over every axis
set with and without keepdims, softmax / log_softmax / cross-entropy with -inf, contractions
with and without epilogues, one_hot, layouts, the MLP's training graph, and an einsum of three
operands that runs its NumPy reference on the host between device kernels (argmax, dropout
and computed gathers: test_cuda_index_kernels.py); the attention and transformer
block of the cpu suite's cases too. Shapes are tiny: on the simulator every GPU thread is a
Python thread."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from cpu_cases import CASES
from special_graphs import (REPEATING_FEED, assert_backend_equals_reference, repeating_formula,
                            special_graph)
from cuda_check import assert_agree, assert_same

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(11)


@pytest.mark.parametrize("opt_level", [0, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_cuda_equals_reference(case, opt_level):
    outputs, feeds = case()
    assert_agree(outputs, feeds, opt_level)


def test_special_values_in_reductions_and_softmax():
    x = gc.tensor("x", ("B", 4))
    outs = [gc.logsumexp(x, axis=1), gc.max(x, axis=1), gc.sum(x, axis=0), gc.max(x, axis=0),
            gc.softmax(x), gc.log_softmax(x), gc.logsumexp(x, axis=0, keepdims=True)]
    inf, nan = np.inf, np.nan
    feeds = {"x": np.array([[1, 2, 3, 4], [inf, inf, 0, 1], [-inf, -inf, -inf, -inf],
                            [0, inf, 1, 2], [nan, 1, 2, 3], [-inf, 0, -inf, 5], [2, 2, 2, 2]],
                           np.float32)}
    assert_agree(outs, feeds)


def test_nested_maximum_and_minimum_print_each_argument_once():
    # printed as conditionals, each level repeated its argument: ten levels of a user's
    # Max(Min(...)) made a line of 87 million characters; np.maximum calls, one per level
    import sympy

    def nest(v):
        for c in range(10):
            v = sympy.Max(sympy.Min(v, 10 + c), -c - 1)
        return v
    x = gc.tensor("x", (6,))
    out = gc.elementwise(nest, "nest")(x)
    f = gc.compile(out, backend="cuda")
    assert max(map(len, f.impl.source.splitlines())) < 1000
    a = np.array([np.nan, -0.0, 0.0, 50, -50, 3], np.float32)
    got, want = np.asarray(f(x=a)), gc.compile(out, backend="reference")(x=a)
    np.testing.assert_array_equal(got, want)
    assert np.signbit(got).tolist() == np.signbit(want).tolist()


def test_a_formula_that_repeats_terms_prints_each_once():
    # 3^6 copies of x in the formula's tree; each repeated term is a statement of its own
    x = gc.tensor("x", (7,))
    out = gc.elementwise(repeating_formula(6), "nest")(x)
    f = gc.compile(out, backend="cuda")
    assert max(map(len, f.impl.source.splitlines())) < 200
    a = REPEATING_FEED
    np.testing.assert_allclose(np.asarray(f(x=a)), gc.compile(out, backend="reference")(x=a),
                               rtol=1e-5)


def test_sums_have_numpys_sign_of_zero():
    # a sum of -0.0 is 0.0 in NumPy and torch: the accumulators start at 0.0, not -0.0
    x = gc.tensor("x", ("B", 3))
    outs = [gc.sum(x, axis=1), gc.sum(x, axis=0), gc.mean(x, axis=1)]
    f, ref = gc.compile(outs, backend="cuda"), gc.compile(outs, backend="reference")
    for a in (np.array([[-0.0, -0.0, -0.0], [-0.0, 0.0, -0.0]], np.float32),
              np.zeros((0, 3), np.float32)):
        for got, want in zip(f(x=a), ref(x=a)):
            assert got.shape == want.shape
            assert np.signbit(got).tolist() == np.signbit(want).tolist() == [False] * want.size


def test_maximum_minimum_and_relu_of_nan_and_signed_zeros_are_numpys():
    x, y = gc.tensor("x", (5,)), gc.tensor("y", (5,))
    a = np.array([0.0, -0.0, np.nan, 1.0, -0.0], np.float32)
    b = np.array([-0.0, 0.0, 1.0, np.nan, -1.0], np.float32)
    f = gc.compile([gc.maximum(x, y), gc.minimum(x, y), gc.relu(x)], backend="cuda")
    for got, want in zip(f(x=a, y=b), (np.maximum(a, b), np.minimum(a, b), np.maximum(a, 0))):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(got[~np.isnan(want)], want[~np.isnan(want)])


def test_one_function_serves_every_batch_size_and_empty_batches():
    outputs, feeds = dict((c.__name__, c) for c in CASES)["mlp_training"]()
    ref, dev = gc.compile(outputs), gc.compile(outputs, backend="cuda")
    for batch in (3, 9, 0, 3):
        f = dict(feeds, x=RNG.standard_normal((batch, 6)).astype(np.float32),
                 y=RNG.integers(0, 3, batch))
        with np.errstate(all="ignore"):
            assert_same(ref(**f), dev(**f), f"batch {batch}")


def test_a_maximum_over_no_elements_is_an_error_as_on_the_reference():
    x = gc.tensor("x", ("B", 3))
    f = gc.compile(gc.max(x, axis=0), backend="cuda")
    with pytest.raises(ValueError, match="max"):
        f(x=np.zeros((0, 3), np.float32))
    np.testing.assert_array_equal(f(x=np.ones((2, 3), np.float32)), np.ones(3, np.float32))


def test_an_op_without_a_native_kernel_runs_its_reference_on_the_host():
    a, b, c = gc.tensor("a", ("B", 4)), gc.tensor("b", (4, 5)), gc.tensor("c", (5, 2))
    chain = gc.einsum("ij,jk,kl->il", gc.tanh(a) * 2.0, b, c)  # three operands: no kernel
    outs = [gc.exp(chain).sum(axis=1), chain]
    feeds = {"a": RNG.standard_normal((3, 4)).astype(np.float32),
             "b": RNG.standard_normal((4, 5)).astype(np.float32),
             "c": RNG.standard_normal((5, 2)).astype(np.float32)}
    dev = assert_agree(outs, feeds)
    runs = [k.runs for k in dev.kernels]
    assert "NumPy reference (host)" in runs and "generated (cuda)" in runs


def test_outputs_are_fresh_arrays_that_a_later_call_does_not_touch():
    x = gc.tensor("x", ("B", 3))
    f = gc.compile([gc.exp(x), x, gc.sum(x)], backend="cuda")
    a = np.ones((2, 3), np.float32)
    first = f(x=a)
    kept = [o.copy() for o in first]
    f(x=a * 5)
    for o, k in zip(first, kept):
        np.testing.assert_array_equal(o, k)
    assert not np.shares_memory(first[1], a)


def test_contractions_with_more_tiles_than_blocks_and_ragged_edges():
    # 19 x 11 results: tiles that do not divide the shape, more tiles than the grid has blocks
    i, j = gc.tensor("i", ("B", 3), "float64"), gc.tensor("j", (3, 11), "float64")
    x, w = gc.tensor("x", ("B", 13)), gc.tensor("w", (11, 13))
    outs = [i @ j, gc.relu(x @ w.T + 1.0), gc.einsum("bk,nk->nb", x, w)]
    feeds = {"i": RNG.standard_normal((19, 3)), "j": RNG.standard_normal((3, 11)),
             "x": RNG.standard_normal((19, 13)).astype(np.float32),
             "w": RNG.standard_normal((11, 13)).astype(np.float32)}
    assert_agree(outs, feeds)


@settings(max_examples=15)
@given(built=special_graph(), opt_level=st.sampled_from([0, 2]))
def test_cuda_equals_reference_on_random_graphs_with_special_values(built, opt_level):
    assert_backend_equals_reference(built, opt_level, "cuda")


def test_the_new_ops_are_device_kernels():
    # slices and windows are access maps; pads, concats, col2im, gathers and their
    # scatter-adds, argmax and dropout's random_uniform are kernels: nothing runs on the host
    from cpu_cases import NEW_OPS
    for case in NEW_OPS:
        outputs, _ = case()
        on_host = {k.provenance[0] for k in gc.compile(outputs, backend="cuda").kernels
                   if "reference" in k.runs}
        assert on_host == set(), (case.__name__, on_host)
