"""Sources: named inputs, constants and one_hot. Mirrors graphc/ops/source.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.shapes import dim


def test_input_node_carries_name_shape_dtype():
    x = gc.tensor("x", ("B", 784))
    assert x.op == "input" and x.name == "x" and x.dtype == "float32"
    assert x.shape == (dim("B"), 784) and x.ndim == 2
    y = gc.tensor("y", ("B",), dtype="int64")
    assert y.dtype == "int64" and y.shape[0] is x.shape[0]  # one Symbol per name


def test_constant_values_and_dtypes():
    c = gc.constant([[1.0, 2.0], [3.0, 4.0]])
    assert c.op == "constant" and c.dtype == "float32" and c.shape == (2, 2)
    assert gc.constant(3).dtype == "int64" and gc.constant(3).shape == ()
    assert gc.constant(np.float64(0.5), dtype="float64").dtype == "float64"
    src = np.array([1.0, 2.0])
    k = gc.constant(src)
    src[0] = 100.0  # the graph keeps its own read-only copy
    x = gc.tensor("x", (2,))
    np.testing.assert_array_equal(gc.compile(x + k)(x=np.zeros(2, np.float32)), [1.0, 2.0])
    with pytest.raises(TypeError, match="constant"):
        gc.constant(np.array(["a"]))


def test_constant_only_graph_compiles():
    f = gc.compile(gc.constant(2.0) * 3)
    assert f.input_names == [] and float(f()) == 6.0


def test_one_hot_matches_numpy():
    labels = gc.tensor("labels", ("B",), "int64")
    oh = gc.one_hot(labels, 4)
    assert oh.shape == (dim("B"), 4) and oh.dtype == "float32"
    v = np.array([0, 3, 1, 1])
    np.testing.assert_array_equal(gc.compile(oh)(labels=v), np.eye(4, dtype=np.float32)[v])
    nested = gc.one_hot(gc.tensor("l2", (2, 3), "int32"), 5, dtype="float64")
    v2 = np.array([[0, 1, 2], [4, 3, 0]], np.int32)
    out = gc.compile(nested)(l2=v2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.eye(5)[v2])


def test_one_hot_of_float_labels_is_an_error():
    with pytest.raises(gc.ShapeError, match="one_hot"):
        gc.one_hot(gc.tensor("l", (3,)), 4)


def test_one_hot_of_computed_labels_out_of_range_is_an_error():
    # labels a compiled function cannot trace back to an input are checked by the op itself,
    # not silently encoded as a row of zeros
    x = gc.tensor("x", (3,))
    labels = gc.astype(x, "int64")
    f = gc.compile(gc.one_hot(labels, 4))
    np.testing.assert_array_equal(f(x=np.array([0, 3, 1])), np.eye(4, dtype=np.float32)[[0, 3, 1]])
    with pytest.raises(ValueError, match=r"one_hot: class label 7 is out of range \[0, 4\)"):
        f(x=np.array([0, 7, 1]))
