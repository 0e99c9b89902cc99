"""MKL as the BLAS of generated code (graphc/backend/numba/mkl.py, mkl_gemm.py): GRAPHC_BLAS
chooses, a missing or misspelt choice is a clear error, and where MKL is installed its gemm
(each transpose, alpha and beta, one thread and many) and a compiled training step equal NumPy
and the reference, on MKL and on OpenBLAS, each in its own process (the choice is made once
per process: gemm_cases.run_blas_check); a large product runs on MKL's own threads, not in
blocks."""
import os
import subprocess
import sys

import pytest
from gemm_cases import run_blas_check

from graphc.backend.numba import mkl
from graphc.backend.numba.modes import BLAS, SERIAL

@pytest.mark.skipif(mkl.library_path() is None, reason="MKL is not installed (pip install mkl)")
@pytest.mark.parametrize("choice", ["mkl", "openblas"])
def test_each_blas_computes_the_products_and_a_step(choice, tmp_path):
    result = run_blas_check(choice, tmp_path)
    provider = result["provider"]  # with "openblas", NumPy's or SciPy's (test_cpu_numpy_blas)
    assert provider == "MKL" if choice == "mkl" else provider.endswith("OpenBLAS")
    assert result["gemm"] < 1e-5
    assert result["step"] < 1e-4
    assert result["product"] < 1e-3
    if provider == "MKL":  # on MKL's own threads: blocks are not even measured
        assert "in blocks" not in result["why"], result["why"]
    if result["mode"] == SERIAL:  # the generated product measured faster: only while other
        # processes held the cores (the suite's other worker), a measurement not kept
        assert "not kept" in result["why"], result["why"]
    else:
        assert provider in result["why"]
        if provider == "MKL":
            assert result["mode"] == BLAS, result["why"]


def test_the_choice_is_checked(monkeypatch):
    monkeypatch.setenv(mkl.ENV, "atlas")
    with pytest.raises(ValueError, match="GRAPHC_BLAS='atlas'.*mkl, openblas"):
        mkl.wanted()
    monkeypatch.setenv(mkl.ENV, " MKL ")
    assert mkl.wanted() == "mkl"
    monkeypatch.delenv(mkl.ENV)
    assert mkl.wanted() is None


def test_mkl_asked_for_but_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(mkl, "library_path", lambda: None)
    monkeypatch.setenv(mkl.ENV, "mkl")
    with pytest.raises(ImportError, match="pip install mkl"):
        mkl.gemm_address()
    monkeypatch.setenv(mkl.ENV, "")
    assert mkl.gemm_address() is None  # not asked for: OpenBLAS, silently
    monkeypatch.setenv(mkl.ENV, "openblas")
    assert mkl.gemm_address() is None


def test_the_library_is_found_where_pip_puts_it(monkeypatch, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libmkl_rt.so.2").write_bytes(b"")
    (tmp_path / "lib" / "libmkl_rt.so.3").write_bytes(b"")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path))
    assert mkl.library_path() == str(tmp_path / "lib" / "libmkl_rt.so.3")


def test_mkls_gemm_without_mkl_is_an_import_error_not_a_later_abort():
    """Compiled against symbols no library provides, mkl_gemm's entry point made LLVM abort
    the process at its next compile (CI's test that imports every module did): without MKL,
    importing it is an ImportError, before anything is compiled."""
    code = ("import graphc.backend.numba.mkl as m\n"
            "m.library_path = lambda: None\n"
            "try:\n"
            "    import graphc.backend.numba.mkl_gemm\n"
            "except ImportError as error:\n"
            "    print('ImportError:', error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, GRAPHC_BLAS="openblas"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ImportError: MKL's library (libmkl_rt) is not installed" in done.stdout
