"""Operands for the column-major gemm tests (test_cpu_blas.py: BLAS itself, test_cpu_blocks.py:
BLAS in blocks), and the check each BLAS that generated code can call passes, in a fresh
process (test_cpu_mkl.py, test_cpu_numpy_blas.py: the choice is made once per process)."""
import os

import numpy as np
from fresh_python import run_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def column_major_operands(rng, m, n, k, ta, tb, dtype):
    """(op(A) as stored, op(B) as stored, A's array, B's array): each operand column-major,
    stored as the transpose of a row-major array, with padding past its leading dimension
    (A's rows 2 longer, B's 1) that a gemm must not read as data."""
    op_a = rng.standard_normal((m, k) if ta == "n" else (k, m)).astype(dtype)
    op_b = rng.standard_normal((k, n) if tb == "n" else (n, k)).astype(dtype)
    a = np.zeros((op_a.shape[1], op_a.shape[0] + 2), dtype)
    a[:, :op_a.shape[0]] = op_a.T
    b = np.zeros((op_b.shape[1], op_b.shape[0] + 1), dtype)
    b[:, :op_b.shape[0]] = op_b.T
    return op_a, op_b, a, b


BLAS_CHECK = r"""
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
print(json.dumps({"provider": blas.PROVIDER, "links": blas.LINKS, "gemm": worst, "step": step,
                  "product": product, "mode": mode, "why": why}))
"""


def run_blas_check(choice: str, tmp_path, before: str = "") -> dict:
    """BLAS_CHECK in a fresh process with GRAPHC_BLAS=choice, `before` run first (it may
    replace how blas.py chooses): the provider, the symbols it links, the worst relative error
    of xxgemm (each transpose, alpha and beta, float32 and float64) and of a compiled step
    against the reference, a 512x512 product's error and how it ran."""
    env = dict(os.environ, GRAPHC_BLAS=choice, GRAPHC_CACHE_DIR=str(tmp_path / choice),
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests", "backend")]))
    return run_json(before + "\n" + BLAS_CHECK, env)
