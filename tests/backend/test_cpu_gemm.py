"""The shared generated matmul (graphc/backend/numba/gemm.py) called directly, for what the
kernels' tests do not reach: a parallel product whose result's rows are not contiguous (it
accumulates in a block of its own, then copies), next to one whose rows are."""
import numpy as np
import pytest

from graphc.backend.numba import gemm


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("tiles", [(128, 512, 256), (5, 7, 3)])
def test_the_parallel_product_with_any_result_layout(transposed, tiles):
    with gemm.slp_vectorizer():
        product = gemm.load("float32", "product").product_entry.ctypes
    rng = np.random.default_rng(3)
    m, n, k = 45, 70, 33
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = np.full((n, m) if transposed else (m, n), np.nan, np.float32)  # every element written
    som, son = (1, m) if transposed else (n, 1)
    product(a.ctypes.data, a.size, 0, k, 1, b.ctypes.data, b.size, 0, n, 1, m, n, k,
            out.ctypes.data, out.size, 0, som, son, *tiles)
    got = out.T if transposed else out
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("part", ["tile", "product"])
def test_an_empty_sum_writes_zeros(part):
    # no block of k runs, so nothing else writes the result (the first block of k writes,
    # the later ones add: there is no zeroing pass before them)
    with gemm.slp_vectorizer():
        module = gemm.load("float32", part)
    m, n = 9, 35
    a, b = np.ones(0, np.float32), np.ones(0, np.float32)
    out = np.full(m * n, np.nan, np.float32)
    if part == "tile":
        module.timed_serial(a, b, out, m, n, 0, 8, 32, 16, 1)
    else:
        module.timed_parallel(a, b, out, m, n, 0, 8, 32, 16, 1)
    np.testing.assert_array_equal(out, 0)
