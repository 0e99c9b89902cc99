"""Two processes compile a program (graphc/backend/numba/jobs.py): every module once, each
after the matmul modules it calls; a helper that fails leaves the work to this process, and
GRAPHC_COMPILE_JOBS=1 starts none. Each case compiles into its own empty cache directory. (The
rest of the suite runs with GRAPHC_COMPILE_JOBS=1: tests/conftest.py.)"""
import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fresh_python import run_json

import graphc as gc
from graphc.backend.numba import cache, forked, gemm, jobs

RNG = np.random.default_rng(5)


def seven_kernels():
    """A program of seven kernels that call no matmul module (quick to compile)."""
    x = gc.tensor("x", ("B", 16))
    return [gc.sum(x, axis=0), gc.max(x, axis=1), gc.softmax(x, axis=-1),
            gc.log_softmax(x, axis=-1), gc.exp(x) * 2.0, gc.sum(gc.tanh(x), axis=1),
            gc.argmax(x, axis=1)]


def check(outputs, f):
    x = RNG.standard_normal((5, 16)).astype(np.float32)
    x[0, :3] = [np.nan, np.inf, -0.0]
    want = gc.compile(outputs, backend="reference")(x=x)
    with np.errstate(all="ignore"):
        got = f(x=x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_two_workers_compile_every_module_once_each_after_what_it_calls(tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    plan = [{"matmul": ["float32", "tile"], "name": "tile", "after": []},
            {"matmul": ["float32", "items"], "name": "items", "after": ["tile"]}] + \
        [{"kernel": f"k{j}", "name": f"k{j}", "needs": [["float32", "tile"]] if j < 3 else [],
          "after": ["tile"] if j < 3 else []} for j in range(8)]
    for item in plan[2:]:
        (tmp_path / (item["name"] + ".py")).write_text("")
    done, lock = {}, threading.Lock()

    def compile_one(name):
        time.sleep(0.01)
        with lock:
            done.setdefault(name, []).append((threading.current_thread().name,
                                              time.monotonic()))
    monkeypatch.setattr(gemm, "load", lambda t, part: compile_one(part)
                        if part not in done else None)
    monkeypatch.setattr(cache, "load", lambda source, name: compile_one(name))
    # threads here stand for the two processes: not one Numba config lock across both
    monkeypatch.setattr(gemm, "slp_vectorizer", contextlib.nullcontext)
    claims = tmp_path / "claims"
    claims.mkdir()
    workers = [threading.Thread(target=jobs._work, args=(str(claims), order), name=who)
               for who, order in (("helper", plan), ("this", plan[::-1]))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(done) == sorted(item["name"] for item in plan)
    assert all(len(times) == 1 for times in done.values())  # every module once
    assert {who for times in done.values() for who, _ in times} == {"helper", "this"}
    for item in plan:  # each after the modules it calls
        assert all(done[a][0][1] < done[item["name"]][0][1] for a in item["after"])


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    monkeypatch.setenv(jobs.ENV, "2")
    monkeypatch.setattr(jobs, "_busy", lambda: False)
    monkeypatch.setattr(jobs, "MIN_SECONDS", 1.0)  # seven small kernels: 1.75 s, estimated
    for name in [n for n in sys.modules if n.startswith(("graphc_k_", "graphc_p_"))]:
        monkeypatch.delitem(sys.modules, name)  # compiled by an earlier case: compile again
    return tmp_path


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_program_compiled_with_a_helper_is_all_in_the_cache_and_right(empty_cache,
                                                                       monkeypatch,
                                                                       tmp_path_factory,
                                                                       start):
    # forked where that is safe (forked.py), else a new Python; that one run from a directory
    # holding another graphc (as a checkout beside an installed one) imports this process's
    # graphc all the same
    if start == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("forked on Linux only")
    monkeypatch.setattr(forked, "possible", lambda: start == "fork")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "graphc").mkdir()
    (elsewhere / "graphc" / "__init__.py").write_text("raise ImportError('another graphc')\n")
    monkeypatch.chdir(elsewhere)
    helpers, start = [], jobs._start
    monkeypatch.setattr(jobs, "_start", lambda *a: helpers.append(start(*a)) or helpers[-1])
    outputs = seven_kernels()
    f = gc.compile(outputs, backend="cpu")
    # it ran, finished, and had exited before the compile returned: still running, it would
    # have been measured with the first call's matmul choices
    assert len(helpers) == 1 and helpers[0].returncode == 0
    assert isinstance(helpers[0], forked.Forked) == (start == "fork")
    names = list(f.impl.module_source.kernel_modules)
    assert len(names) == 7 and cache.compiled(names) == set(names)
    assert not list(empty_cache.glob(".claims-*"))  # the claims are cleared away
    # the helper compiled the driver (against stand-ins for the kernels it had not compiled):
    # this process loaded its machine code, linked to the real kernels
    assert sum(f.impl.module.run0.stats.cache_hits.values()) == 1
    check(outputs, f)


def test_a_helper_that_fails_leaves_the_compile_to_this_process(empty_cache, monkeypatch):
    started = []

    def failing(claims, plan, later=()):
        started.append(plan)
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    monkeypatch.setattr(jobs, "_start", failing)
    outputs = seven_kernels()
    check(outputs, gc.compile(outputs, backend="cpu"))
    assert len(started) == 1 and len(started[0]) == 8  # the seven kernels and the driver


def test_a_helper_that_cannot_start_leaves_the_compile_to_this_process(empty_cache,
                                                                       monkeypatch):
    def cannot(claims, plan, later=()):
        raise FileNotFoundError("no python here")
    monkeypatch.setattr(jobs, "_start", cannot)
    outputs = seven_kernels()
    check(outputs, gc.compile(outputs, backend="cpu"))
    assert not list(empty_cache.glob(".claims-*"))


def test_one_job_starts_no_helper(empty_cache, monkeypatch):
    monkeypatch.setenv(jobs.ENV, "1")
    monkeypatch.setattr(jobs, "_start", lambda *a: pytest.fail("a helper was started"))
    outputs = seven_kernels()
    check(outputs, gc.compile(outputs, backend="cpu"))


FRESH = """
import json, sys
import numpy as np
import graphc as gc
from graphc.backend.numba import jobs
jobs.MIN_SECONDS, jobs._busy = 0.0, lambda: False  # a helper for these small kernels too
x = gc.tensor("x", ("B", 16))
outputs = [gc.sum(x, axis=0), gc.softmax(x, axis=-1), gc.exp(x) * 2.0,
           gc.sum(gc.tanh(x), axis=1)]
f = gc.compile(outputs, backend="cpu")
v = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
agree = all(np.allclose(g, w, rtol=1e-5, atol=1e-6)
            for g, w in zip(f(x=v), gc.compile(outputs, backend="reference")(x=v)))
print(json.dumps({"agree": agree, "driver_hits": sum(f.impl.module.run0.stats.cache_hits.values()),
                  "kernels": list(f.impl.module_source.kernel_modules)}))
"""


def test_a_driver_the_helper_compiled_links_to_a_kernel_compiled_later(tmp_path):
    """The helper compiles the driver against stand-ins for kernels it has not compiled. A
    kernel whose machine code is then missing (the helper was killed) is compiled by a later
    process, which loads the cached driver after it: the driver runs the real kernel."""
    env = dict(os.environ, **{cache.ENV: str(tmp_path), jobs.ENV: "2"})

    def fresh():
        return run_json(FRESH, env)
    first = fresh()
    assert first["agree"] and first["driver_hits"] == 1  # the helper's driver, loaded
    for name in first["kernels"]:  # every kernel's machine code gone, the driver's kept
        for f in (tmp_path / "__pycache__").glob(name + ".*"):
            f.unlink()
    second = fresh()
    assert second["agree"] and second["driver_hits"] == 1


def test_only_matmul_modules_whose_every_caller_can_run_blas_are_deferred():
    # a dense product can run BLAS until the generated matmul is in; the attention's
    # per-head product (views with no dense layout) runs only generated, so its program needs
    # the tile module at once, and defers only the blocks module, which the projection calls
    x, w = gc.tensor("x", ("B", 32, 64)), gc.tensor("w", (64, 64))
    dense = gc.compile(gc.relu(x @ w + 1.0), backend="cpu")
    assert dense.impl.module_source.deferrable() == {("float32", "tile"),
                                                     ("float32", "blocks")}

    def heads(t):
        return gc.transpose(gc.reshape(t, ("B", 32, 4, 16)), (0, 2, 1, 3))
    scores = gc.einsum("bhtd,bhsd->bhts", heads(x @ w), heads(x * 2.0))
    attention = gc.compile(scores, backend="cpu")
    assert attention.impl.module_source.deferrable() == {("float32", "blocks")}


DEFERRED = """
import json, sys
import numpy as np
import graphc as gc
from graphc.backend.numba import forked, jobs, modes, runtime
jobs.MIN_SECONDS, jobs._busy = 0.0, lambda: False  # a helper for this small program too
if "--spawn" in sys.argv:
    forked.possible = lambda: False
runtime.COMPILING_POLL_S = 0.0  # every call looks whether the helper is done
modes.BUSY_CORES = float("inf")  # a choice measured beside the suite's other worker is kept
# 8 rows: 2048 FLOPs, generated, unmeasured, once the tile module is in; 64 rows: measured
batch = 64 if "--exit" in sys.argv else 8
x, w = gc.tensor("x", (batch, 16)), gc.tensor("w", (16, 8))
out = gc.relu(x @ w + 1.0)
f = gc.compile(out, backend="cpu")
rng = np.random.default_rng(3)
feeds = {"x": rng.standard_normal((batch, 16)).astype(np.float32),
         "w": rng.standard_normal((16, 8)).astype(np.float32)}
want = gc.compile(out, backend="reference")(**feeds)
later = sorted(f.impl._later)
got = [f(**feeds)]
runs = [k.runs for k in f.kernels if "matmul" in k.name]
if "--exit" not in sys.argv:  # else the process exits with its helper still compiling
    for background in list(jobs._running):
        background.wait()
    got.append(f(**feeds))
    runs += [k.runs for k in f.kernels if "matmul" in k.name]
print(json.dumps({"later": later, "runs": runs, "left": sorted(f.impl._later),
                  "agree": [bool(np.allclose(g, want, rtol=1e-5, atol=1e-5)) for g in got]}))
"""


@pytest.mark.parametrize("exit_first,start", [(False, "fork"), (True, "fork"), (True, "spawn")])
def test_a_program_runs_blas_while_its_helper_compiles_the_generated_matmul(tmp_path,
                                                                          exit_first, start):
    """The tile module, which a dense product can do without, is compiled after the rest: the
    first call runs BLAS, the helper still compiling; once it is done the kernel, compiled
    before the module, calls it through its cell (entry.py). A process that exits first
    waits for its helper: the module is in the cache, the claims cleared away, and the choice
    it made without measuring is measured before it exits, for the next process."""
    env = dict(os.environ, **{cache.ENV: str(tmp_path), jobs.ENV: "2"})
    result = run_json(DEFERRED, env, *["--exit"] * exit_first, *["--spawn"] * (start == "spawn"))
    assert result["later"] == [["float32", "tile"]]
    assert all(result["agree"]) and len(result["agree"]) == 2 - exit_first
    blas = result["runs"][0]
    assert blas.startswith("BLAS") and "compiling meanwhile" in blas, blas
    if not exit_first:
        assert result["left"] == [] and result["runs"][1].startswith("generated at")
    tile = gemm.module_name("float32", "tile")
    assert any((tmp_path / "__pycache__").glob(tile + ".*.nbi"))  # the helper's, kept
    assert not list(tmp_path.glob(".claims-*"))
    if exit_first:
        choices = json.loads((tmp_path / "matmul-choices.json").read_text())
        assert any(key.startswith("float32 64x8x16 ") for key in choices), choices


def test_the_helper_starts_without_graphc_s_dsl_or_sympy():
    # its start is on the cold step's path: graphc's __init__ (the DSL, the ops, sympy) took
    # 0.35 s of it, and the helper only compiles generated modules
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(jobs.__file__))))
    start = jobs.HELPER.format(root=os.path.dirname(root)).split("runpy.run_module")[0]
    probe = start + (
        "import graphc.backend.numba.jobs\n"
        "from graphc.backend.numba import blas, build, clock, entry, gemm, pool, vectors, vmath\n"
        "gemm.source('float32', 'blocks'), build.signature(2)\n"
        "print(sorted(m for m in ('sympy', 'graphc.dsl', 'graphc.ops') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]"]


def test_parallel_versions_compile_when_a_call_first_needs_them_with_a_helper(empty_cache,
                                                                             monkeypatch):
    """A kernel's loop split across threads is a module of its own (kernels.py), compiled
    when a call first reaches its size: in two processes, as a program's first compile."""
    x = gc.tensor("x", ("B", 64, 64))
    outputs = [gc.gelu(x) * 2.0, gc.softmax(x, axis=-1), gc.log_softmax(x, axis=-1)]
    helpers, start = [], jobs._start
    monkeypatch.setattr(jobs, "_start", lambda *a: helpers.append(a[1]) or start(*a))
    f = gc.compile(outputs, backend="cpu")
    parallel = sorted(f.impl.module_source.parallel_modules)
    assert len(parallel) == 3 and not cache.compiled(parallel)
    small = RNG.standard_normal((2, 64, 64)).astype(np.float32)
    large = RNG.standard_normal((20, 64, 64)).astype(np.float32)
    reference = gc.compile(outputs, backend="reference")
    for v in (small, large):
        for g, w in zip(f(x=v), reference(x=v)):
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)
        if v is small:
            assert not cache.compiled(parallel)  # not needed yet
    assert cache.compiled(parallel) == set(parallel)
    assert sorted(item["name"] for item in helpers[-1]) == parallel  # shared with a helper
