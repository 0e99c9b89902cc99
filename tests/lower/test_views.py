"""Views: layout ops as strides over a flat buffer, checked against NumPy's own strides.
Mirrors graphc/lower/views.py."""
import numpy as np
import pytest

from graphc.ir.shapes import as_shape
from graphc.lower.views import View, align


def numpy_view(view: View, base: np.ndarray) -> np.ndarray:
    item = base.itemsize
    return np.lib.stride_tricks.as_strided(
        base[int(view.offset):], shape=tuple(int(d) for d in view.shape),
        strides=tuple(int(s) * item for s in view.strides))


BASE = np.arange(24.0)


def test_transpose_broadcast_and_reshape_match_numpy():
    v = View.whole("b", as_shape((2, 3, 4)))
    a = BASE.reshape(2, 3, 4)
    t = v.transpose((2, 0, 1))
    np.testing.assert_array_equal(numpy_view(t, BASE), a.transpose(2, 0, 1))
    r = v.reshape(as_shape((6, 4)))
    np.testing.assert_array_equal(numpy_view(r, BASE), a.reshape(6, 4))
    s = View.whole("b", as_shape((3, 1))).broadcast_to(as_shape((2, 3, 5)))
    np.testing.assert_array_equal(numpy_view(s, BASE), np.broadcast_to(BASE[:3].reshape(3, 1),
                                                                       (2, 3, 5)))


def test_a_reshape_that_would_move_elements_is_refused():
    t = View.whole("b", as_shape((2, 3, 4))).transpose((0, 2, 1))  # (2, 4, 3), strided
    assert t.reshape(as_shape((2, 12))) is None  # rows of a transpose, flattened: a copy
    unit = t.reshape(as_shape((2, 1, 4, 3)))     # adding a unit axis moves nothing
    np.testing.assert_array_equal(numpy_view(unit, BASE),
                                  BASE.reshape(2, 3, 4).transpose(0, 2, 1).reshape(2, 1, 4, 3))


def test_align_repeats_missing_and_unit_axes():
    v = View.whole("b", as_shape((3, 1)))
    acc = align(v, as_shape((5, 3, 4)))
    assert acc.strides == (0, 1, 0)
    with pytest.raises(ValueError, match="rank"):
        align(View.whole("b", as_shape((2, 3))), as_shape((3,)))
