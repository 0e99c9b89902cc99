"""Properties over random graphs (tests/strategies.py): the symbolic gradient of the scalar
output equals finite differences, and float32 evaluation agrees with a float64 run."""
import numpy as np
from hypothesis import given

import graphc as gc
from strategies import random_graph


@given(random_graph(kinks=False))
def test_gradients_of_random_graphs_match_finite_differences(built):
    y = built.outputs[-1]
    assert y.ndim == 0
    errs = gc.check_grad(y, built.inputs, built.feeds, rtol=1e-5, atol=1e-6)
    assert set(errs) == {t.name for t in built.inputs}


@given(random_graph(dtype="float32"))
def test_float32_results_match_a_float64_run(built):
    single = gc.compile(built.outputs)
    double = gc.compile(built.outputs, upcast=True, backend="reference")  # all in float64
    for lo, hi, node in zip(single(**built.feeds), double(**built.feeds), built.outputs):
        assert lo.dtype == np.float32 and hi.dtype == np.float64
        assert lo.shape == hi.shape == tuple(int(d) for d in node.shape)
        scale = max(1.0, float(np.max(np.abs(hi))) if hi.size else 1.0)
        np.testing.assert_allclose(lo, hi, rtol=1e-4, atol=1e-5 * scale)
