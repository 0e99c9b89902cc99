"""graphc/backend/numba/arrays.py: the arrays generated code makes, as intrinsics (loaded
code then names no environment of numba.np.arrayobj): `carray`, the elements at an address,
and `scratch`, a new array."""
import numpy as np
import pytest
from numba import cfunc, njit, types

from graphc.backend.numba.arrays import carray, scratch


@njit
def _twice_through(address, n):
    a = carray(address, (n,), np.float32)
    for i in range(n):
        a[i] *= 2
    return a.sum()


@njit
def _flags(address, n):
    return carray(address, (n,), np.bool_).sum()


@njit
def _fresh(n):
    a, b = scratch(n, np.float64), scratch(n, np.int64)
    for i in range(n):
        a[i], b[i] = i / 2, -i
    return a, b


def test_carray_reads_and_writes_the_memory_at_an_address():
    x = np.arange(5, dtype=np.float32)
    assert _twice_through(x.ctypes.data, 5) == pytest.approx(20)
    np.testing.assert_array_equal(x, [0, 2, 4, 6, 8])
    assert _twice_through(x.ctypes.data, 0) == 0  # no elements


def test_carray_of_a_pointer_and_of_bools():
    flags = np.array([True, False, True, True])
    assert _flags(flags.ctypes.data, 4) == 3
    last = cfunc(types.float32(types.voidptr, types.int64))(
        lambda p, n: carray(p, (n,), np.float32)[n - 1])  # as in a kernel's entry point
    assert last.ctypes(np.array([1, 2, 3], np.float32).ctypes.data, 3) == 3


def test_scratch_makes_new_arrays_of_the_dtype_and_size():
    a, b = _fresh(4)
    assert (a.dtype, b.dtype, a.shape, b.shape) == (np.float64, np.int64, (4,), (4,))
    np.testing.assert_array_equal(a, [0, 0.5, 1, 1.5])
    np.testing.assert_array_equal(b, [0, -1, -2, -3])
    a[:] = 7  # its own memory, the caller's to keep
    again, _ = _fresh(4)
    np.testing.assert_array_equal(again, [0, 0.5, 1, 1.5])
    assert _fresh(0)[0].shape == (0,)
