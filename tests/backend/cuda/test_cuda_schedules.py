"""Launch shapes change no result: the contraction kernel with several tile sizes and register
blocks (the GPU's smallest variant among them), and reductions and softmax with wider blocks,
equal the reference. The printer's choices are data of the Target, so a test can print for
another one; and the source shows what was generated."""
import numpy as np
import pytest

import graphc as gc
from graphc.backend.cuda import target as targets
from graphc.backend.cuda.target import Tiles
from cuda_check import assert_agree

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(3)


def use(monkeypatch, **changes):
    """Print for this process's target (the simulator, or a GPU) with `changes`."""
    from dataclasses import replace
    base = targets.current()
    monkeypatch.setattr(targets, "current", lambda: replace(base, **changes))


@pytest.mark.parametrize("tiles", [Tiles(4, 4, 2, 1, 1), Tiles(8, 16, 8, 4, 2),
                                   Tiles(16, 8, 4, 2, 4), Tiles(32, 32, 16, 2, 2)], ids=str)
def test_tile_sizes_change_no_result(monkeypatch, tiles):
    use(monkeypatch, tiles=(tiles,))
    a, b, c = gc.tensor("a", ("B", 13)), gc.tensor("b", (13, 11)), gc.tensor("c", (11,))
    outs = [gc.relu(a @ b + c), gc.einsum("ij,jk->ik", a, b), gc.einsum("bk,nk->bn", a, b.T)]
    f = assert_agree(outs, {"a": RNG.standard_normal((9, 13)).astype(np.float32),
                            "b": RNG.standard_normal((13, 11)).astype(np.float32),
                            "c": RNG.standard_normal(11).astype(np.float32)})
    assert f'{tiles.bm}x{tiles.bn}x{tiles.bk} tiles' in f.source


def test_the_runtime_picks_among_tile_variants_by_size(monkeypatch):
    small, large = Tiles(4, 4, 4, 2, 2), Tiles(8, 8, 4, 2, 2)
    use(monkeypatch, tiles=(large, small), sms=4)
    x, w = gc.tensor("x", ("B", 8)), gc.tensor("w", (8, 8))
    f = gc.compile(x @ w, backend="cuda")
    ck = f.impl.module_source.kernels[f.impl.program.kernels[0].name]
    assert ck.variants == [large, small]
    for batch in (5, 30):  # 5 rows: 1 large tile, 4 small ones; 30 rows: 4 large tiles
        xs = RNG.standard_normal((batch, 8)).astype(np.float32)
        ws = RNG.standard_normal((8, 8)).astype(np.float32)
        np.testing.assert_allclose(f(x=xs, w=ws), xs @ ws, rtol=2e-5, atol=2e-5)
        (step,) = f.impl._frames[(batch,)].steps
        assert step[0] is f.impl._functions[f.impl.program.kernels[0].name][batch == 5]


@pytest.mark.parametrize("threads", [8, 64])
def test_block_sizes_change_no_result(monkeypatch, threads):
    use(monkeypatch, threads=threads, max_blocks=3)
    x = gc.tensor("x", ("B", 7))
    outs = [gc.sum(x, axis=1), gc.sum(x, axis=0), gc.logsumexp(x, axis=0), gc.max(x),
            gc.softmax(x), gc.log_softmax(x, axis=0), gc.exp(x.T) * 2.0]
    assert_agree(outs, {"x": RNG.standard_normal((20, 7)).astype(np.float32)})


def test_the_source_shows_the_kernels_and_their_launch_order():
    x, w = gc.tensor("x", ("B", 4)), gc.tensor("w", (4, 3))
    f = gc.compile(gc.log_softmax(gc.relu(x @ w)), backend="cuda")
    src = f.source
    assert "from numba import cuda" in src and "@cuda.jit(cache=True)" in src
    assert "def layout(d_B):" in src and "cuda.shared.array" in src and "syncthreads" in src
    kinds = [k.kind for k in f.kernels]
    assert kinds == ["ContractKernel", "NormalizeKernel"]
    assert all(k.runs == "generated (cuda)" for k in f.kernels)


def test_a_gpu_target_prints_warp_shuffles(monkeypatch):
    # printed only (the simulator has no shuffles): the GPU check runs them
    use(monkeypatch, shuffles=True, threads=256)
    x = gc.tensor("x", ("B", 4))
    f_src = gc.compile([gc.sum(x, axis=1), gc.softmax(x), gc.sum(x, axis=0)],
                       backend="cuda").source
    assert f_src.count("cuda.shfl_down_sync(0xFFFFFFFF") == 1 + 3  # sum; softmax's max+arg, sum
    assert "(256, 1)" in f_src and "(8, 32)" in f_src  # row and column blocks


def test_options_the_backend_does_not_take_are_named():
    x = gc.tensor("x", (3,))
    with pytest.raises(TypeError, match="'tiles'.*'cuda'"):
        gc.compile(x * 2.0, backend="cuda", tiles=8)
    with pytest.raises(ValueError, match="own dtypes"):
        gc.compile(x * 2.0, backend="cuda", upcast=True)
