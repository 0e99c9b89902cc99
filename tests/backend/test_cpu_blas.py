"""BLAS from compiled code (graphc/backend/numba/blas.py): every transpose, leading dimension,
alpha and beta of the column-major gemm the kernels call, against NumPy's product."""
import numpy as np
import pytest
from numba import njit

from graphc.backend.numba.blas import xxgemm
from gemm_cases import column_major_operands


@njit(cache=False)
def _gemm(kind, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    return xxgemm(kind, ta, tb, m, n, k, alpha.ctypes.data, a.ctypes.data, lda, b.ctypes.data,
                  ldb, beta.ctypes.data, c.ctypes.data, ldc)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ta, tb", [("n", "n"), ("t", "n"), ("n", "t"), ("t", "t")])
def test_column_major_gemm_with_transposes_and_beta(dtype, ta, tb):
    rng = np.random.default_rng(0)
    m, n, k = 5, 4, 3
    op_a, op_b, a, b = column_major_operands(rng, m, n, k, ta, tb, dtype)
    c0 = rng.standard_normal((n, m)).astype(dtype)  # C (m x n, column-major) as its transpose
    c = c0.copy()
    kind = ord("s") if dtype == "float32" else ord("d")
    assert _gemm(kind, ord(ta), ord(tb), m, n, k, np.full(1, 2, dtype), a, a.shape[1], b,
                 b.shape[1], np.full(1, 0.5, dtype), c, m) == 0
    A = op_a if ta == "n" else op_a.T
    B = op_b if tb == "n" else op_b.T
    want = 2 * (A.astype(np.float64) @ B) + 0.5 * c0.T
    np.testing.assert_allclose(c.T, want, rtol=1e-5, atol=1e-5)


SCIPY_AFTER = r"""
import sys
import numpy as np
import graphc as gc
x = gc.tensor("x", (3, 4))
gc.compile([x @ gc.transpose(x)], backend="cpu")(x=np.ones((3, 4), np.float32))
print("scipy.linalg" in sys.modules)  # Numba started without scipy.linalg's __init__
"""


@pytest.mark.parametrize("then", [
    "import scipy.linalg; assert scipy.linalg.cython_blas; scipy.linalg.solve([[2.]], [4.])",
    "import scipy.linalg.cython_blas; assert scipy.linalg.cython_blas.__pyx_capi__",
    "from scipy.linalg import cython_blas; assert cython_blas.__pyx_capi__",
    "import scipy.linalg.cython_blas as cb; import scipy.linalg as L; assert L.cython_blas is cb",
])
def test_scipy_blas_loaded_alone_is_still_scipys_module(then):
    """blas.py loads SciPy's cython_blas without scipy.linalg's __init__ (0.13-0.17 s of a
    warm start); every way of reaching it afterwards still works."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", SCIPY_AFTER + then], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False"]
