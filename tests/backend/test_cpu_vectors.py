"""The SIMD vectors of the generated matmul (graphc/backend/numba/vectors.py): each operation
equals NumPy's, and the matmul built from them is right with either register block (AVX-512's,
and AVX2's, in a process whose Numba compiles for a CPU without AVX-512)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from graphc.backend.numba import gemm, vectors
from graphc.backend.numba.vectors import add_store, fma, load, splat, store


def _axpy_rows(lanes):
    """out[i:i + lanes] += a[i] * x[i:i + lanes] + one for every i a multiple of lanes, but
    written (=) for the first lanes (lanes a constant of the compiled code, as in the
    micro-kernel)."""
    @njit(cache=False)
    def run(a, x, out, one):
        for i in range(0, len(x), lanes):
            v = fma(splat(a[i], lanes), load(x, i, lanes), splat(one, lanes))
            if i == 0:
                store(out, i, v)
            else:
                add_store(out, i, v)
    return run


@pytest.mark.parametrize("dtype, lanes", [("float32", 16), ("float32", 8), ("float64", 8),
                                          ("float64", 4)])
def test_vector_operations_equal_numpy(dtype, lanes):
    rng = np.random.default_rng(lanes)
    a, x = (rng.standard_normal(4 * lanes).astype(dtype) for _ in range(2))
    x[:3] = [np.inf, -0.0, np.nan]  # specials pass through lane by lane
    out = rng.standard_normal(4 * lanes).astype(dtype)
    want = out.copy()
    for i in range(0, len(x), lanes):
        want[i:i + lanes] = (want[i:i + lanes] if i else 0) + a[i] * x[i:i + lanes] + 1
    _axpy_rows(lanes)(a, x, out, np.dtype(dtype).type(1))
    tol = 1e-6 if dtype == "float32" else 1e-14  # fma rounds once, NumPy twice
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def test_the_register_block_fits_the_cpu():
    for dtype in ("float32", "float64"):
        mr, nr = gemm.register_block(dtype)
        lanes = vectors.register_bytes() // np.dtype(dtype).itemsize
        registers = 32 if vectors.has_avx512() else 16
        assert nr % lanes == 0 and mr * nr // lanes + nr // lanes + 1 <= registers
    with pytest.raises(ValueError, match="float32 and float64"):
        gemm.register_block("float16")  # the cpu backend refuses float16 graphs before


AVX2_SCRIPT = textwrap.dedent("""
    import numpy as np, graphc as gc
    from graphc.backend.numba import gemm
    print(gemm.register_block("float32"), gemm.register_block("float64"))
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        a, b = gc.tensor("a", ("B", 37), dtype), gc.tensor("b", (37, 29), dtype)
        f = gc.compile(a @ b, backend="cpu", matmul="generated")
        x, w = rng.standard_normal((23, 37)).astype(dtype), rng.standard_normal((37, 29)).astype(dtype)
        print(np.allclose(f(a=x, b=w), x.astype(np.float64) @ w, rtol=1e-4, atol=1e-4))
""")


@pytest.mark.skipif(not vectors.has_avx512(), reason="this CPU runs the AVX2 block already")
def test_the_avx2_register_block_on_a_cpu_without_avx512(tmp_path):
    from llvmlite import binding
    binding.initialize_native_target()
    features = [f for f in binding.get_host_cpu_features().flatten().split(",")
                if not f.startswith("+avx512")]
    env = dict(os.environ, NUMBA_CPU_FEATURES=",".join(features),
               GRAPHC_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", AVX2_SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["(6,", "16)", "(6,", "8)", "True", "True"]
