"""BLAS in blocks on all threads (a contraction kernel's mode 3): gemm.py's `gemm_blocks`
against NumPy for every transpose, split and copy; whole graphs with matmul="blocks" against
the reference, on every layout the kernels call it with; and the thread choice of a step
that runs it (BLAS on one thread, Numba's pool on all)."""
import numba
import numpy as np
import pytest
from numba import njit

import graphc as gc
from graphc.backend.numba import gemm
from gemm_cases import column_major_operands

RNG = np.random.default_rng(12)


def _runner(dtype):
    blocks = gemm.load(np.dtype(dtype).name, "blocks").gemm_blocks

    @njit(cache=False)
    def run(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e, esi, esj, copy):
        blocks(ta, tb, m, n, k, alpha, a.ctypes.data, a.size, lda, b.ctypes.data, b.size, ldb,
               beta, c.ctypes.data, c.size, ldc, e.ctypes.data, e.size, esi, esj, copy)
    return run


@pytest.fixture(scope="module", params=[np.float32, np.float64])
def blocks(request):
    return request.param, _runner(request.param)


@pytest.mark.parametrize("ta, tb", [("n", "n"), ("t", "n"), ("n", "t"), ("t", "t")])
@pytest.mark.parametrize("m, n, k", [(7, 4, 3), (3, 9, 5), (1, 6, 2), (5, 1, 4), (6, 5, 0)])
@pytest.mark.parametrize("copy", [False, True])
def test_gemm_in_blocks_is_the_gemm(blocks, ta, tb, m, n, k, copy):
    dtype, run = blocks
    op_a, op_b, a, b = column_major_operands(RNG, m, n, k, ta, tb, dtype)
    ldc = m + 3
    c = RNG.standard_normal((n, ldc)).astype(dtype)  # C (m x n) column-major, ld m + 3
    c0 = c.copy()
    e = RNG.standard_normal((m, n)).astype(dtype)  # e(i, j) at i*n + j: a row-major matrix
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        run(ord(ta), ord(tb), m, n, k, dtype(2), a, a.shape[1], b, b.shape[1], dtype(0.5), c,
            ldc, e, n, 1, int(copy))
    finally:
        numba.set_num_threads(before)
    A = op_a if ta == "n" else op_a.T
    B = op_b if tb == "n" else op_b.T
    start = e if copy else c0[:, :m].T
    want = 2 * (A.astype(np.float64) @ B) + 0.5 * start
    np.testing.assert_allclose(c[:, :m].T, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(c[:, m:], c0[:, m:])  # the padding between columns: untouched


def _feeds(shapes, dtype, batch):
    return {name: RNG.standard_normal(tuple(batch if d == "B" else d for d in shape))
            .astype(dtype) for name, shape in shapes.items()}


CASES = {
    # an epilogue after the gemm (relu), a bias copied into C first (beta 1), an update of a
    # parameter returned fresh with A transposed, B transposed, a transposed result, a batch
    "relu(x @ w + c)": lambda t: gc.relu(t["x"] @ t["w"] + t["c"]),
    "x @ w + c": lambda t: t["x"] @ t["w"] + t["c"],
    "w - 0.1 * x.T @ g": lambda t: t["w"] - 0.1 * (t["x"].T @ t["g"]),
    "g @ w.T": lambda t: t["g"] @ t["w"].T,
    "(x @ w).T * 2": lambda t: (t["x"] @ t["w"]).T * 2.0,
    "bik,bkj->bij": lambda t: gc.einsum("bik,bkj->bij", t["p"], t["q"]),
}
SHAPES = {"x": ("B", 6), "w": (6, 5), "c": (5,), "g": ("B", 5), "p": (3, "B", 4),
          "q": (3, 4, 7)}


@pytest.fixture(scope="module", params=["float32", "float64"])
def compiled(request):
    dtype = request.param
    tensors = {n: gc.tensor(n, s, dtype) for n, s in SHAPES.items()}
    outputs = [case(tensors) for case in CASES.values()]
    cpu = gc.compile(outputs, backend="cpu", matmul="blocks")
    return dtype, cpu, gc.compile(outputs, backend="reference")


@pytest.mark.parametrize("batch", [0, 1, 3, 37])
def test_a_graph_in_blocks_equals_the_reference(compiled, batch):
    dtype, cpu, reference = compiled
    feeds = _feeds(SHAPES, dtype, batch)
    got = cpu(**feeds)
    assert "gemm_blocks(" in cpu.impl.source
    for name, g, w in zip(CASES, got, reference(**feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
    runs = [k.runs for k in cpu.kernels if "matmul" in k.name or "einsum" in k.name]
    assert runs and all(r.startswith("BLAS in blocks") for r in runs), runs


def test_a_training_step_in_blocks_updates_in_place_as_the_reference():
    # gc.train_step donates the parameters: the update's gemm accumulates into w itself
    steps = {}
    for backend, options in (("reference", {}), ("cpu", {"matmul": "blocks"})):
        gc.nn.manual_seed(1)
        model = gc.nn.Sequential(gc.nn.Linear(6, 16), gc.nn.ReLU(), gc.nn.Linear(16, 3))
        x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), "int64")
        step = gc.train_step(gc.cross_entropy(model(x), y),
                             gc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                             backend=backend, **options)
        rng = np.random.default_rng(5)
        for _ in range(3):
            step(x=rng.standard_normal((9, 6)).astype(np.float32), y=rng.integers(0, 3, 9))
        steps[backend] = [p.value.copy() for p in model.parameters()]
    for got, want in zip(steps["cpu"], steps["reference"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one thread: no pool step")
def test_a_step_in_blocks_keeps_blas_on_one_thread():
    x, w = gc.tensor("x", ("B", 64)), gc.tensor("w", (64, 64))
    f = gc.compile(gc.relu(x @ w), backend="cpu", matmul="blocks")
    f(x=np.ones((64, 64), np.float32), w=np.ones((64, 64), np.float32))
    _, limit, modes = f.impl._prepare((64,))
    assert list(modes) == [3]
    assert limit.threads == 1 and limit.blas  # BLAS's threads; Numba's pool keeps the cores



@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one thread: no blocks")
def test_blocks_are_measured_only_for_products_large_enough_for_threads():
    from graphc.backend.numba.contract import BLOCKS_FROM_FLOPS
    x, w = gc.tensor("x", ("B", 64)), gc.tensor("w", (64, 128))
    f = gc.compile(gc.relu(x @ w), backend="cpu")  # B is symbolic: the kernel has mode 3
    ones = np.ones((64, 128), np.float32)
    for batch in (64, 512):  # 2 * B * 128 * 64 FLOPs: 1.0M, then 8.4M
        f(x=np.ones((batch, 64), np.float32), w=ones)
        (_, why), = f.impl.choices[(batch,)].values()
        assert ("in blocks" in why) == (2 * batch * 128 * 64 >= BLOCKS_FROM_FLOPS)


@pytest.mark.parametrize("matmul", ["blas", "blocks", "generated"])
def test_an_empty_sum_is_zeros_before_its_epilogue(matmul):
    """K = 0: every way a contraction runs writes zeros where BLAS may leave the result as it
    was, then applies the fused epilogue (here into a workspace buffer that earlier calls
    filled, and into a fresh output)."""
    x, w, b = gc.tensor("x", ("B", "K")), gc.tensor("w", ("K", 7)), gc.tensor("b", (7,))
    outs = [gc.sum(gc.relu(x @ w + b), axis=0), x @ w - b]
    f = gc.compile(outs, backend="cpu", matmul=matmul)
    rng = np.random.default_rng(5)
    for k in (3, 0):  # the first call leaves its sums in the workspace
        args = dict(x=rng.standard_normal((6, k)).astype(np.float32),
                    w=rng.standard_normal((k, 7)).astype(np.float32),
                    b=rng.standard_normal(7).astype(np.float32))
        for got, want in zip(f(**args), gc.compile(outs)(**args)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
