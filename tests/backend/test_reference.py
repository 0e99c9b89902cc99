"""The NumPy reference interpreter: node by node, each result in its node's dtype, or all in
float64 with upcast. Mirrors graphc/backend/reference.py."""
import numpy as np

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.shapes import dim


def test_evaluate_by_name_and_dims():
    x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3, 2))
    h = gc.relu(x @ w)
    y = gc.mean(h)
    vx = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    vw = np.ones((3, 2), np.float32)
    hv, yv = evaluate([h, y], {"x": vx, "w": vw}, {dim("B"): 2})
    np.testing.assert_array_equal(hv, np.maximum(vx @ vw, 0))
    assert hv.dtype == np.float32 and yv.dtype == np.float32 and yv.shape == ()
    np.testing.assert_allclose(yv, np.maximum(vx @ vw, 0).mean())


def test_every_node_is_cast_to_its_dtype_or_float64_when_upcast():
    x = gc.tensor("x", (3,))
    y = gc.exp(x) / 3.0
    a = np.array([0.1, 0.2, 0.3])  # float64 fed on purpose
    (lo,) = evaluate([y], {"x": a.astype(np.float32)}, {})
    (hi,) = evaluate([y], {"x": a}, {}, upcast=True)
    assert lo.dtype == np.float32 and hi.dtype == np.float64
    np.testing.assert_allclose(hi, np.exp(a) / 3.0, rtol=1e-14)  # float64 to a few ulps
    np.testing.assert_allclose(lo, hi, rtol=1e-6)


def test_integer_nodes_stay_integers():
    labels = gc.tensor("labels", (3,), "int64")
    oh = gc.one_hot(labels, 3, dtype="int64")
    (out,) = evaluate([oh], {"labels": np.array([2, 0, 1])}, {}, upcast=True)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.int64)[[2, 0, 1]])


def test_compiled_reference_function_is_the_interpreter():
    x = gc.tensor("x", ("N",))
    f = gc.compile(gc.sum(x * x), backend="reference")
    assert f.backend == "reference"
    assert float(f(x=np.arange(4.0))) == 14.0
