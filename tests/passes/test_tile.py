"""tile: every contraction gets a Schedule from the analytical model (hand-computed here),
schedules never change results, and a schedule means what it says (run_tiled). Mirrors
graphc/passes/tile.py and graphc/ir/schedule.py."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import graphc as gc
from fusion_models import assert_same, feeds_for, mlp_graph
from graphc.ir.schedule import Schedule, loop_nest, run_tiled
from graphc.passes.fuse_elementwise import fuse_elementwise
from graphc.passes.fuse_epilogue import fuse_matmul_epilogue
from graphc.passes.tile import choose_schedule, contraction_axes, tile
from strategies import random_graph


def _schedule(node, **kw):
    return tile(gc.Graph.of([node]), **kw).outputs[0].attrs["schedule"]


def test_model_for_the_mlp_shapes():
    x, W = gc.tensor("x", ("B", 784)), gc.tensor("W", (784, 256))
    # tile_k: a 64-byte-wide panel of B in half of a 32 KiB L1: 32768 / 128 = 256 rows;
    # tile_n: the 256 x tile_n block of B in half of a 1 MiB L2 (512 floats) capped by N = 256;
    # tile_m: at most 128 rows. B is symbolic: the batch rows run in parallel (axis 0).
    assert _schedule(x @ W) == Schedule(128, 256, 256, 0)
    W3 = gc.tensor("W3", (256, 10))
    # N = 10 caps tile_n
    assert _schedule(gc.tensor("h", ("B", 256)) @ W3) == Schedule(128, 10, 256, 0)
    # dW = xᵀ @ dZ: M = 784 > N = 256 -> parallel over axis 0; K = B is symbolic
    dz = gc.tensor("dz", ("B", 256))
    assert _schedule(x.T @ dz) == Schedule(128, 256, 256, 0)
    # a wide N is the larger independent axis
    assert _schedule(gc.tensor("a", (16, 64)) @ gc.tensor("b", (64, 4096))).parallel_axis == 1


def test_a_symbolic_n_gets_at_most_256_columns_so_the_rows_are_not_starved():
    # an attention's q kᵀ over a symbolic sequence length T: (B, T, 16) @ (B, 16, T)
    q, k = gc.tensor("q", ("B", "T", 16)), gc.tensor("k", ("B", 16, "T"))
    # tile_k = K = 16; tile_n: 256, not the 8192 columns half of L2 holds; tile_m: the 128 rows
    assert _schedule(q @ k) == Schedule(128, 256, 16, 0)


def test_float64_and_cache_size_change_the_tiles():
    x, W = gc.tensor("x", ("B", 4096), "float64"), gc.tensor("W", (4096, 4096), "float64")
    # a float64 block of B 256 deep fills half of L2 at 256 columns (512 float32 ones)
    assert _schedule(x @ W) == Schedule(128, 256, 256, 0)
    assert _schedule(gc.tensor("x", ("B", 4096)) @ gc.tensor("W", (4096, 4096))).tile_n == 512
    small = _schedule(x @ W, l1_bytes=4096, l2_bytes=65536)
    assert small.tile_k == 32 and small.tile_n == 128


def test_a_batch_axis_is_parallel_and_small_dims_cap_tiles():
    a, b = gc.tensor("a", (12, 5, 7)), gc.tensor("b", (12, 7, 3))
    s = _schedule(a @ b)
    assert s == Schedule(5, 3, 7, 0)
    q, k = gc.tensor("q", ("H", "T", 16)), gc.tensor("k", ("H", "T", 16))
    attn = gc.einsum("htd,hsd->hts", q, k)
    batch, m, n, kk = contraction_axes(attn)
    assert [a for a, _ in batch] == [0] and [a for a, _ in m] == [1] and [a for a, _ in n] == [2]
    assert [str(d) for _, d in kk] == ["16"]
    assert _schedule(attn).parallel_axis == 0 and _schedule(attn).tile_k == 16


def test_every_contraction_of_the_fused_mlp_is_scheduled():
    raw = mlp_graph()
    fused = fuse_matmul_epilogue(fuse_elementwise(raw))
    tiled = tile(fused)
    contractions = [n for n in tiled.nodes()
                    if n.op in ("matmul", "einsum", "fused_contraction")]
    assert len(contractions) == 8
    assert all(isinstance(n.attrs["schedule"], Schedule) for n in contractions)
    scheduled = {id(n) for n in contractions}
    assert not any("schedule" in n.attrs for n in tiled.nodes() if id(n) not in scheduled)
    assert len(tiled) == len(fused)
    assert choose_schedule(contractions[0]) == contractions[0].attrs["schedule"]


@pytest.mark.parametrize("l1", [256, 4096, 32 * 1024, 1 << 22])  # tiny to huge
def test_schedules_change_no_result(l1):
    raw = mlp_graph((12, 7, 5, 3))
    feeds, dims = feeds_for(raw, batch=9)
    fused = fuse_matmul_epilogue(fuse_elementwise(raw))
    from graphc.backend.reference import evaluate
    want = evaluate(list(fused.outputs), feeds, dims)
    got = evaluate(list(tile(fused, l1_bytes=l1).outputs), feeds, dims)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)  # identical, not just close


@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(1, 9),
       tm=st.integers(1, 5), tn=st.integers(1, 5), tk=st.integers(1, 5), batch=st.booleans())
def test_run_tiled_computes_the_matmul_for_any_schedule(m, n, k, tm, tn, tk, batch):
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.standard_normal(((2,) if batch else ()) + (m, k))
    b = rng.standard_normal((k, n))
    np.testing.assert_allclose(run_tiled(a, b, Schedule(tm, tn, tk, 0)), a @ b, rtol=1e-12,
                               atol=1e-12)


def test_schedule_validates_and_prints():
    with pytest.raises(ValueError, match="tile_k must be a positive int"):
        Schedule(8, 8, 0, 0)
    with pytest.raises(ValueError, match="parallel_axis"):
        Schedule(8, 8, 8, -1)
    s = Schedule(48, 48, 56, 0)
    assert str(s) == "tile 48x48x56 parallel axis 0"
    nest = loop_nest(s, "B", 256, 784)
    assert "range(0, B, 48)" in nest and "range(0, 784, 56)" in nest


@given(random_graph(max_steps=8))
def test_tiling_preserves_results(built):
    raw = gc.Graph.of(built.outputs, built.inputs)
    tiled = tile(raw)
    assert len(tiled) == len(raw)
    assert_same(raw, tiled, built.feeds)


def test_degenerate_einsums_get_a_schedule_too():
    a, b = gc.tensor("a", (4, 5)), gc.tensor("b", (4, 5))
    dot = _schedule(gc.einsum("ij,ij->", a, b))  # no result axis to split
    assert dot == Schedule(1, 1, 20, 0)
    moved = _schedule(gc.einsum("ij->ji", a))  # one operand: M only, nothing summed
    assert moved == Schedule(20, 1, 1, 0)  # j (5) is the larger result axis, at 0
