"""The OpenBLAS that generated code calls (graphc/backend/numba/numpy_blas.py, blas.py): NumPy's
own where NumPy ships one, by its CBLAS gemm of 64-bit or of 32-bit integers, else SciPy's
through Numba's helper. Each way, in its own fresh process (the choice is made once per
process), computes every transpose, alpha and beta, and a compiled step, as NumPy and the
reference do (gemm_cases.run_blas_check)."""
import glob
import os

import pytest
import scipy
from gemm_cases import run_blas_check

from graphc.backend.numba import numpy_blas

NUMPY_HAS_ITS_OWN = numpy_blas.find() is not None
# SciPy's wheel's OpenBLAS exports CBLAS of 32-bit integers (scipy_cblas_sgemm): the other width
SCIPYS = sorted(glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs", "*openblas*")))


def _checked(result: dict, provider: str) -> dict:
    assert result["provider"] == provider, result
    assert result["gemm"] < 1e-5
    assert result["step"] < 1e-4
    assert result["product"] < 1e-3
    return result


@pytest.mark.skipif(not NUMPY_HAS_ITS_OWN, reason="this NumPy has no OpenBLAS of its own")
def test_numpys_openblas_is_the_one_called(tmp_path):
    result = _checked(run_blas_check("openblas", tmp_path), "NumPy's OpenBLAS")
    bits = numpy_blas.find()[2]
    assert result["links"] == " ".join(numpy_blas.SYMBOLS[bits].values())


@pytest.mark.skipif(not SCIPYS, reason="no OpenBLAS in SciPy's wheel to stand for the other width")
def test_a_cblas_of_32_bit_integers(tmp_path):
    before = ("from graphc.backend.numba import numpy_blas\n"
              f"numpy_blas.library_paths = lambda: {SCIPYS!r}\n"
              "assert numpy_blas.find()[2] == 32\n")
    result = _checked(run_blas_check("openblas", tmp_path, before), "NumPy's OpenBLAS")
    assert result["links"] == " ".join(numpy_blas.SYMBOLS[32].values())


def test_without_one_scipys_through_numba(tmp_path):
    before = ("from graphc.backend.numba import numpy_blas\n"
              "numpy_blas.find = lambda: None\n")
    result = _checked(run_blas_check("openblas", tmp_path, before), "SciPy's OpenBLAS")
    assert result["links"] == ""


def test_what_is_not_an_openblas_is_passed_over(monkeypatch, tmp_path):
    junk = tmp_path / "libopenblas_junk.so"
    junk.write_bytes(b"not a library")
    import _ctypes  # a library that loads and is no BLAS (nor links one)
    real = [_ctypes.__file__] if getattr(_ctypes, "__file__", None) else []
    monkeypatch.setattr(numpy_blas, "library_paths", lambda: [str(junk), *real])
    assert numpy_blas.find() is None
