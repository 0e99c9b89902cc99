"""Schedules change no result where they are consumed: the cpu backend's generated tiled
kernel (on one thread and on all), with tile sizes that divide the shapes and tile sizes that
do not, equals BLAS and the reference. NUMBA_DISABLE_JIT=1 runs the same code as plain
Python."""
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import graphc as gc
from graphc.ir.node import rebuild
from graphc.ir.schedule import Schedule
from graphc.passes.pipeline import optimize
from graphc.passes.rewrite import keep, rewrite

RNG = np.random.default_rng(9)


def with_schedule(graph, schedule):
    def visit(old, new_inputs):
        node = keep(old, new_inputs)
        return rebuild(node, schedule=schedule) if "schedule" in node.attrs else node
    return rewrite(graph, visit)


@pytest.mark.parametrize("tiles", [(48, 48, 56), (7, 5, 3), (1, 64, 1), (64, 1, 200)])
def test_tile_sizes_change_no_result(tiles):
    a, b, c = gc.tensor("a", ("B", 37)), gc.tensor("b", (37, 29)), gc.tensor("c", (29,))
    graph, _ = optimize(gc.Graph.of([gc.relu(a @ b + c), gc.einsum("ij,jk->ik", a, b)]))
    graph = with_schedule(graph, Schedule(*tiles, parallel_axis=0))
    feeds = {"a": RNG.standard_normal((23, 37)).astype(np.float32),
             "b": RNG.standard_normal((37, 29)).astype(np.float32),
             "c": RNG.standard_normal(29).astype(np.float32)}
    want = gc.compile(list(graph.outputs), inputs=list(graph.inputs), backend="reference")(**feeds)
    results = {}
    for way in ("generated", "parallel", "blas"):  # the tiles on one thread, on all, BLAS
        f = gc.compile(list(graph.outputs), inputs=list(graph.inputs), backend="cpu",
                       opt_level=0, matmul=way)
        assert all(str(Schedule(*tiles, 0)) in k.schedule for k in f.kernels)
        results[way] = f(**feeds)
        assert all(k.runs.startswith({"generated": "generated at", "blas": "BLAS",
                                      "parallel": "generated on all"}[way])
                   for k in f.kernels)
    tiled, blas = results["generated"], results["blas"]
    for w, p in zip(want, results["parallel"]):
        np.testing.assert_allclose(p, w, rtol=1e-5, atol=1e-5)
    for w, t, bl in zip(want, tiled, blas):
        np.testing.assert_allclose(t, w, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bl, w, rtol=1e-5, atol=1e-5)


def test_numba_disable_jit_runs_the_generated_code_as_python(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, graphc as gc
        x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3, 2))
        loss = gc.cross_entropy(x @ w, gc.tensor("y", ("B",), "int64"))
        outs = [loss] + gc.grad(loss, [w])
        feeds = dict(x=np.ones((4, 3), np.float32), w=np.eye(3, 2, dtype=np.float32),
                     y=np.array([0, 1, 0, 1]))
        want = gc.compile(outs)(**feeds)
        for way in ("auto", "blocks"):  # BLAS, and BLAS in blocks (gemm.py's plain Python)
            f = gc.compile(outs, backend="cpu", matmul=way)
            got = f(**feeds)
            print(all(np.allclose(g, v, rtol=1e-5) for g, v in zip(got, want)))
        times = f.impl.profile(feeds, {"B": 4})  # the profile's clock, in Python
        print(sorted(times) == sorted(k.name for k in f.kernels) and min(times.values()) >= 0)
        from graphc.backend.numba import gemm  # batch items on all threads, in Python
        a, b = np.arange(24, dtype=np.float32), np.arange(40, dtype=np.float32)
        out, at = np.zeros(30, np.float32), np.array([0, 0, 0, 12, 20, 15], np.int64)
        gemm.load("float32", "items").gemm_items(
            a.ctypes.data, a.size, b.ctypes.data, b.size, out.ctypes.data, out.size,
            at.ctypes.data, at.size, 2, 4, 1, 5, 1, 5, 1, 3, 5, 4, 2, 2, 3)
        print(np.allclose(out.reshape(2, 3, 5), a.reshape(2, 3, 4) @ b.reshape(2, 4, 5)))
        z = gc.tensor("z", ("B",))  # vmath.py's erf and exp (GELU), in Python
        gelu = [gc.gelu(z), gc.grad(gc.sum(gc.gelu(z)), [z])[0]]
        v = np.array([-5.0, -1.5, -0.0, 0.3, 2.5, np.nan, np.inf], np.float32)
        print(all(np.allclose(g, w, rtol=1e-6, equal_nan=True) for g, w in
                  zip(gc.compile(gelu, backend="cpu")(z=v), gc.compile(gelu)(z=v))))
    """)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", GRAPHC_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True"] * 5


@pytest.mark.parametrize("others, kept", [(0.0, True), (1.5, False)])
def test_a_matmul_choice_measured_on_a_busy_machine_is_not_kept(others, kept, monkeypatch,
                                                                 tmp_path):
    from graphc.backend import load
    from graphc.backend.numba import modes
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(modes, "_choices", None)
    monkeypatch.setattr(modes, "_unsettled", {})
    monkeypatch.setattr(load.LoadMeter, "others", lambda self: others)
    ways = (modes.SERIAL, modes.BLAS)
    mode, why, later = modes.choose("float32", 24, 16, 8, (24, 16, 8), ways, 1, 1)
    assert mode in ways and why.startswith("measured: ")
    saved = (tmp_path / "matmul-choices.json").exists()
    assert saved == kept and ("not kept" in why) != kept and (later is None) == kept
    again = modes.choose("float32", 24, 16, 8, (24, 16, 8), ways, 1, 1)
    assert again == (mode, why, later)  # not measured again before `later`


def test_a_choice_measured_on_a_busy_machine_is_measured_again_a_few_times(monkeypatch,
                                                                           tmp_path):
    """The first call measured while others used the cores: a later call measures again (at
    most len(REMEASURE_AFTER_S) more times), and a quiet measurement is kept."""
    from graphc.backend import load
    from graphc.backend.numba import modes
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(modes, "_choices", None)
    monkeypatch.setattr(modes, "_unsettled", {})
    monkeypatch.setattr(modes, "REMEASURE_AFTER_S", (0.0, 0.0))
    busy, measured, measure = [1.5], [], modes._measure
    monkeypatch.setattr(load.LoadMeter, "others", lambda self: busy[0])
    monkeypatch.setattr(modes, "_measure", lambda *a: measured.append(a) or measure(*a))
    x, w = gc.tensor("x", ("B", 64)), gc.tensor("w", (64, 48))
    args = dict(x=RNG.standard_normal((32, 64)).astype(np.float32),
                w=RNG.standard_normal((64, 48)).astype(np.float32))
    want = gc.compile(gc.relu(x @ w))(**args)

    def call(f):
        np.testing.assert_allclose(f(**args), want, rtol=1e-5, atol=1e-5)
        (_, why), = f.impl.choices[(32,)].values()
        return why
    f = gc.compile(gc.relu(x @ w), backend="cpu")
    assert "measured again after 0 s" in call(f) and len(measured) == 1
    busy[0] = 0.0
    assert "not kept" not in call(f) and len(measured) == 2
    assert call(f) and len(measured) == 2  # kept: not measured again
    assert (tmp_path / "matmul-choices.json").exists()
    busy[0], measured[:] = 1.5, []
    monkeypatch.setattr(modes, "_choices", {})  # a shape not known yet, on a busy machine
    g = gc.compile(gc.relu(x @ w), backend="cpu")
    for _ in range(5):
        call(g)
    assert len(measured) == 3  # once, then twice more (REMEASURE_AFTER_S), then no more


@pytest.fixture(scope="module")
def large_elementwise():
    # flat (gelu) and strided (a transpose read) loops, a row reduction, softmax and
    # log-softmax over (B, 64, 64): 4,096 elements known when printed, so the kernels carry a
    # split outer loop, taken from 2^16 elements (B >= 16)
    x = gc.tensor("x", ("B", 64, 64))
    outputs = [gc.gelu(x) * 2.0, x + gc.transpose(x, (0, 2, 1)),
               gc.sum(gc.exp(x), axis=-1), gc.softmax(x, axis=-1), gc.log_softmax(x, axis=-1)]
    return outputs, gc.compile(outputs, backend="cpu")


@pytest.mark.parametrize("batch", [1, 40])  # below and above the split
def test_a_loop_split_across_threads_changes_no_result(large_elementwise, batch):
    outputs, f = large_elementwise
    ms = f.impl.module_source
    parallel = [k for k in ms.kernel_sources.values() if k.split_loop]
    assert len(parallel) == 5 and all("prange" in "\n".join(k.parallel_body) and
                                      "prange" not in "\n".join(k.body) for k in parallel)
    # the parallel versions are modules of their own, loaded for calls that reach the split
    (dim,) = f.impl.program.dims
    assert len(ms.parallel_modules) == 5 and ms.parallel_for({dim: 15}) == []
    assert len(ms.parallel_for({dim: 16})) == 5  # 2^16 elements
    x = RNG.standard_normal((batch, 64, 64)).astype(np.float32)
    x[0, 0, :3] = [np.nan, np.inf, -0.0]
    want = gc.compile(outputs, backend="reference")(x=x)
    with np.errstate(all="ignore"):
        got = f(x=x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)
    if batch == 40:  # loaded, and the kernels call them: their cells hold them
        from graphc.backend.numba import entry
        assert all(name in sys.modules for name in ms.parallel_modules)
        assert all(entry._cells[f"graphc_{ms.function_of[k.name]}_parallel"].value
                   for k in parallel)


def test_small_kernels_stay_serial():
    # a GELU over (B, 64) (2,048 elements at B = 32) and an add over (B, 512) (cheap per
    # element, 512 known) carry no split loop; a GELU over (B, 512) does
    x, y = gc.tensor("x", ("B", 64)), gc.tensor("y", ("B", 512))
    f = gc.compile([gc.gelu(x), y + 1.0], backend="cpu")
    assert not any(k.split_loop for k in f.impl.module_source.kernel_sources.values())
    g = gc.compile(gc.gelu(y), backend="cpu")
    assert all(k.split_loop for k in g.impl.module_source.kernel_sources.values())


def test_split_loops_over_buffers_of_the_workspace():
    # kernels whose operands and results are temporaries (views of the one workspace): Numba's
    # parallel loops read zeros from views made in their own function (the tiny transformer's
    # GELU gave a wrong loss), so the loops are a function given the views
    x = gc.tensor("x", ("B", 64, 64))
    outputs = [gc.softmax(gc.gelu(gc.gelu(x) * 3.0), axis=-1) + 1.0]
    f = gc.compile(outputs, backend="cpu", opt_level=0)  # every op its own kernel
    sources = [k for k in f.impl.module_source.kernel_sources.values() if k.split_loop]
    assert len(sources) >= 3 and "_loops(" in f.impl.source
    x_value = RNG.standard_normal((40, 64, 64)).astype(np.float32)
    want = gc.compile(outputs, backend="reference", opt_level=0)(x=x_value)
    np.testing.assert_allclose(f(x=x_value), want, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("way", ["auto", "blas", "generated", "parallel", "blocks"])
def test_an_epilogue_that_changes_the_dtype_runs_as_tiles(way):
    # a comparison or a cast fused into the product: its result is not stored in the
    # accumulator's dtype, so no BLAS call or product on all threads may write sums there
    # (BLAS wrote float32 into the bool and int32 results; on all threads it crashed)
    x, w = gc.tensor("x", ("B", 64)), gc.tensor("w", (64, 64))
    rng = np.random.default_rng(2)  # small integers: every sum exact, in any order
    feeds = {"x": rng.integers(-3, 4, (300, 64)).astype(np.float32),
             "w": rng.integers(-3, 4, (64, 64)).astype(np.float32)}
    for out in ((x @ w) > 0.5, gc.astype(x @ w, "float64") * 2.0, gc.astype(x @ w, "int32")):
        f = gc.compile(out, backend="cpu", matmul=way)  # one output: the epilogue fuses
        got, want = f(**feeds), gc.compile(out, backend="reference")(**feeds)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        (product,) = [k for k in f.kernels if "matmul" in k.name]
        assert product.runs.startswith("generated at"), product.runs


@pytest.mark.parametrize("batch", [1, 40])
def test_batch_items_split_across_threads_equal_the_reference(batch):
    # the attention's per-head products read views with no dense layout for BLAS, so in a
    # program that calls BLAS (the projection here) the generated kernel is the only way;
    # from 2^16 result elements (batch 40: 163,840) gemm.py's `gemm_items` splits the batch
    # items across Numba's threads, below (batch 1) they run in order
    x, w = gc.tensor("x", ("B", 32, 64)), gc.tensor("w", (64, 64))

    def heads(t):
        return gc.transpose(gc.reshape(t, ("B", 32, 4, 16)), (0, 2, 1, 3))
    scores = gc.relu(gc.einsum("bhtd,bhsd->bhts", heads(x @ w), heads(x * 2.0)) * 0.25)
    f = gc.compile(scores, backend="cpu")
    feeds = {"x": RNG.standard_normal((batch, 32, 64)).astype(np.float32),
             "w": RNG.standard_normal((64, 64)).astype(np.float32) / 8}
    want = gc.compile(scores, backend="reference")(**feeds)
    np.testing.assert_allclose(f(**feeds), want, rtol=1e-5, atol=1e-5)
    (per_head,) = [k for k in f.kernels if "einsum" in k.name]
    way = "generated in batch items on all threads" if batch == 40 and \
        numba.config.NUMBA_NUM_THREADS > 1 else "generated at"
    assert per_head.runs.startswith(way), per_head.runs


def test_compile_timings_compiles_what_a_first_measurement_runs():
    # jobs.py's helper compiles them beside the kernels, so a cold first step only measures
    from graphc.backend.numba import gemm, modes
    modes.compile_timings("float32", "tile")
    tile = gemm.load("float32")
    compiled = {f: len(getattr(tile, f).signatures) for f in ("timed_blas", "timed_serial")}
    assert all(compiled.values())
    modes._measure("float32", 8, 8, 8, (8, 8, 8), (modes.BLAS, modes.SERIAL))
    assert {f: len(getattr(tile, f).signatures) for f in compiled} == compiled  # none new
