"""MKL as the BLAS of generated code (graphc/backend/numba/mkl.py, mkl_gemm.py): GRAPHC_BLAS
chooses, a missing or misspelt choice is a clear error, and where MKL is installed its gemm
(each transpose, alpha and beta, one thread and many) and a compiled training step equal NumPy
and the reference, on MKL and on OpenBLAS, each in its own process (the choice is made once
per process); a large product runs on MKL's own threads, not in blocks."""
import os
import subprocess
import sys

import pytest
from fresh_python import run_json

from graphc.backend.numba import mkl
from graphc.backend.numba.modes import BLAS, SERIAL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHECK = r"""
import json, sys
import numpy as np
import graphc as gc
from numba import njit
from graphc.backend.numba import blas
from gemm_cases import column_major_operands

@njit(cache=False)
def gemm(kind, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    return blas.xxgemm(kind, ta, tb, m, n, k, alpha.ctypes.data, a.ctypes.data, lda,
                       b.ctypes.data, ldb, beta.ctypes.data, c.ctypes.data, ldc)

worst = 0.0
rng = np.random.default_rng(0)
for dtype in ("float32", "float64"):
    for m, n, k in ((5, 4, 3), (200, 130, 90)):  # below and above one thread's size
        for ta in "nt":
            for tb in "nt":
                op_a, op_b, a, b = column_major_operands(rng, m, n, k, ta, tb, dtype)
                c0 = rng.standard_normal((n, m)).astype(dtype)
                c = c0.copy()
                gemm(ord("s" if dtype == "float32" else "d"), ord(ta), ord(tb), m, n, k,
                     np.full(1, 2, dtype), a, a.shape[1], b, b.shape[1], np.full(1, 0.5, dtype),
                     c, m)
                A = op_a if ta == "n" else op_a.T
                B = op_b if tb == "n" else op_b.T
                want = 2 * (A.astype(np.float64) @ B) + 0.5 * c0.T
                worst = max(worst, float(np.abs(c.T - want).max() / np.abs(want).max()))

x, y = gc.tensor("x", ("B", 20)), gc.tensor("y", ("B",), dtype="int64")
model = gc.nn.Sequential(gc.nn.Linear(20, 300), gc.nn.ReLU(), gc.nn.Linear(300, 7))
loss = gc.nn.CrossEntropyLoss()(model(x), y)
grads = gc.grad(loss, model.parameters())
feeds = {p.name: p.value for p in model.parameters()}
feeds.update(x=rng.standard_normal((256, 20)).astype("float32"), y=rng.integers(0, 7, 256))
got = gc.compile([loss, *grads], backend="cpu")(**feeds)
ref = gc.compile([loss, *grads], backend="reference")(**feeds)
step = max(float(np.abs(g - r).max() / max(np.abs(r).max(), 1e-30)) for g, r in zip(got, ref))

# a product BLAS gets all threads for: on MKL's own threads, never in blocks (runtime._modes)
a, w = gc.tensor("a", ("N", 512)), gc.tensor("w", (512, 512))
big = gc.compile([a @ w], backend="cpu")
av, wv = rng.standard_normal((512, 512)).astype("float32"), rng.standard_normal((512, 512))
got, = big(a=av, w=wv.astype("float32"))
product = float(np.abs(got - av.astype(np.float64) @ wv).max())
(mode, why), = big.impl.choices[(512,)].values()
print(json.dumps({"provider": blas.PROVIDER, "gemm": worst, "step": step, "product": product,
                  "mode": mode, "why": why}))
"""


def _run(choice: str, tmp_path) -> dict:
    env = dict(os.environ, GRAPHC_BLAS=choice, GRAPHC_CACHE_DIR=str(tmp_path / choice),
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests", "backend")]))
    return run_json(CHECK, env)


@pytest.mark.skipif(mkl.library_path() is None, reason="MKL is not installed (pip install mkl)")
@pytest.mark.parametrize("choice, provider", [("mkl", "MKL"), ("openblas", "OpenBLAS")])
def test_each_blas_computes_the_products_and_a_step(choice, provider, tmp_path):
    result = _run(choice, tmp_path)
    assert result["provider"] == provider
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
