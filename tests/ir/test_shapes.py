"""Symbolic shapes: named dims, broadcasting on symbols, axis normalization. Mirrors
graphc/ir/shapes.py."""
import pytest
import sympy

import graphc as gc
from graphc.ir.shapes import (as_dim, as_shape, broadcast_shapes, dim, dims_equal, fmt_shape,
                              normalize_axes, numel)

B, T = dim("B"), dim("T")


def test_a_name_is_one_positive_integer_symbol():
    assert dim("B") is B
    assert B.is_integer and B.is_positive
    assert as_dim("B") is B and as_dim(3) == sympy.Integer(3) and as_dim(2 * B) == 2 * B


@pytest.mark.parametrize("bad", [-1, 2.5, True, None, "1x", "a b"])
def test_bad_shape_entries_are_shape_errors(bad):
    with pytest.raises(gc.ShapeError, match=repr(bad) if not isinstance(bad, str) else "1x|a b"):
        as_shape((3, bad))


def test_as_shape_and_fmt_shape():
    assert as_shape(5) == (5,) and as_shape("B") == (B,) and as_shape(()) == ()
    assert fmt_shape((B, 784)) == "(B, 784)"
    assert fmt_shape((3,)) == "(3,)" and fmt_shape(()) == "()"
    assert numel((B, 3, T)) == 3 * B * T and numel(()) == 1


@pytest.mark.parametrize("shapes,expected", [
    (((3, 4), (4,)), (3, 4)),
    (((3, 1), (1, 4)), (3, 4)),
    (((), (2, 3)), (2, 3)),
    ((("B", 1), (1, 4)), ("B", 4)),
    ((("B", "T", 4), ("T", 1)), ("B", "T", 4)),
    ((("B",), ("B",)), ("B",)),
    (((1,), ("B",)), ("B",)),
])
def test_broadcast_shapes_symbolic(shapes, expected):
    assert broadcast_shapes("op", *map(as_shape, shapes)) == as_shape(expected)


def test_broadcast_mismatch_names_op_and_shapes():
    with pytest.raises(gc.ShapeError, match=r"add: shapes \(3,\) and \(4,\) do not broadcast"):
        broadcast_shapes("add", as_shape((3,)), as_shape((4,)))
    with pytest.raises(gc.ShapeError, match=r"mul: shapes \(B, 3\) and \(T, 3\)"):
        broadcast_shapes("mul", (B, 3), (T, 3))


def test_dims_equal_sees_through_spelling():
    assert dims_equal(2 * B, B + B) and dims_equal(B * T, T * B)
    assert not dims_equal(B, T)


@pytest.mark.parametrize("axis,ndim,expected", [
    (None, 3, (0, 1, 2)), (1, 3, (1,)), (-1, 3, (2,)), ((2, 0), 3, (0, 2)), ((-1, -3), 3, (0, 2)),
    ((), 2, ()), (None, 0, ()), ([0, 1], 2, (0, 1)),
])
def test_normalize_axes(axis, ndim, expected):
    assert normalize_axes("sum", axis, ndim) == expected


@pytest.mark.parametrize("axis,msg", [(3, "axis 3 is out of range"), (-4, "axis -4"),
                                      ((0, -3), r"axis 0 is repeated in \(0, -3\)"),
                                      (1.0, r"an axis must be an int .* got 1\.0"),
                                      (True, "an axis must be an int.*got True"),
                                      ("1", "an axis must be an int.*got .1.")])
def test_bad_axes(axis, msg):
    with pytest.raises(gc.ShapeError, match=f"sum: {msg}"):
        normalize_axes("sum", axis, 3)


def test_numpy_integers_are_axes():
    import numpy as np
    assert normalize_axes("sum", np.int64(-1), 3) == (2,)
    assert normalize_axes("sum", (np.int32(0), 2), 3) == (0, 2)


def test_plain_sympy_symbols_become_the_dim_of_their_name():
    # sympy.Symbol("B") is not dim("B") (no assumptions): (B,) + (B,) would not broadcast
    assert as_dim(sympy.Symbol("B")) is B
    assert as_dim(2 * sympy.Symbol("B")) == 2 * B
    x, y = gc.tensor("x", (sympy.Symbol("B"),)), gc.tensor("y", ("B",))
    assert (x + y).shape == (B,)


@pytest.mark.parametrize("bad", [None, 3.5])
def test_a_shape_that_is_not_a_sequence_is_a_shape_error(bad):
    with pytest.raises(gc.ShapeError, match=f"a shape .*{bad}"):
        as_shape(bad)
