"""The on-disk compile cache: a second process loads what the first compiled (no Numba
compile), damaged entries are rebuilt, concurrent compiles both succeed, the directory is
private. Each case runs in fresh processes over its own cache directory."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from fresh_python import run_json

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import graphc as gc
    import gc as collector
    from graphc.backend.numba import jobs
    collecting = []  # whether the garbage collector ran while the modules compiled or loaded
    compile_in_two = jobs.compile_in_two
    jobs.compile_in_two = lambda *a: collecting.append(collector.isenabled()) or \
        compile_in_two(*a)
    x = gc.tensor("x", ("B", 3)); w = gc.tensor("w", (3, 2))
    loss = gc.sum(gc.tanh(x @ w) * 1.5)
    f = gc.compile([loss, gc.grad(loss, w)], backend="cpu")
    value = f(x=np.ones((4, 3), np.float32), w=np.full((3, 2), 0.1, np.float32))
    stats = [getattr(f.impl.module, name).stats for name in dir(f.impl.module)
             if name.startswith("run")]
    import graphc.backend.numba.cache as cache
    # each kernel is a C entry point (a numba.cfunc): loaded from the cache, or compiled
    kernels = [getattr(sys.modules[m], m.removeprefix("graphc_k_")).cache_hits
               for m in f.impl.module_source.kernel_modules]
    print(json.dumps({"loss": float(value[0]), "collecting": collecting,
                      "misses": sum(sum(s.cache_misses.values()) for s in stats) +
                                kernels.count(0),
                      "hits": sum(sum(s.cache_hits.values()) for s in stats) + sum(kernels)}))
""")


def run(cache_dir, extra_env=None):
    return run_json(SCRIPT, dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir),
                                 **(extra_env or {})))


def machine_code(cache_dir) -> dict:
    return {f.name: f.stat().st_mtime_ns for f in (cache_dir / "__pycache__").iterdir()}


def test_a_second_process_loads_the_compiled_code_without_compiling(tmp_path):
    first = run(tmp_path)
    written = machine_code(tmp_path)
    second = run(tmp_path)
    assert first["misses"] > 0
    assert second["misses"] == 0 and second["hits"] > 0
    assert second["loss"] == pytest.approx(first["loss"])
    # the collector runs while Numba compiles (garbage), not while the cache loads
    # (graphc/collector.py)
    assert first["collecting"] == [True] and second["collecting"] == [False]
    # nothing at all was compiled again: not a kernel, a driver, nor the shared matmul
    # (whose C entry points Numba would save again had it compiled them)
    assert any(".tile_entry-" in name for name in written)
    assert machine_code(tmp_path) == written


def test_damaged_entries_are_rebuilt(tmp_path):
    good = run(tmp_path)
    pycache = tmp_path / "__pycache__"
    for f in pycache.iterdir():  # Numba's index and machine code
        f.write_bytes(b"garbage")
    assert run(tmp_path)["loss"] == pytest.approx(good["loss"])
    for f in tmp_path.glob("graphc_*.py"):  # a half-written module
        f.write_text(f.read_text()[:40])
    assert run(tmp_path)["loss"] == pytest.approx(good["loss"])


def test_two_processes_compiling_the_same_graph_at_once_both_succeed(tmp_path):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1])["loss"])
    assert results[0] == pytest.approx(results[1])
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_the_cache_directory_is_private_and_can_be_listed_and_emptied(tmp_path, monkeypatch):
    from graphc.backend.numba import cache
    target = tmp_path / "fresh"
    monkeypatch.setenv(cache.ENV, str(target))
    assert cache.cache_dir() == str(target)
    assert os.stat(target).st_mode & 0o777 == 0o700
    cache.load("X = 1\n", "graphc_k_test")
    assert cache.info()["modules"] == 1
    assert cache.clear() == 1 and cache.info()["modules"] == 0


def test_the_cache_stays_bounded(tmp_path, monkeypatch):
    from graphc.backend.numba import cache
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    monkeypatch.setattr(cache, "MAX_MODULES", 8)
    for k in range(20):
        cache.load(f"X = {k}\n", f"graphc_k_bound{k}")
    assert cache.info()["modules"] <= 9


def test_what_is_compiled_is_listed_once_while_the_directory_is_unchanged(tmp_path,
                                                                            monkeypatch):
    from graphc.backend.numba import cache
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(cache, "_listing", (None, None, frozenset()))
    machine = tmp_path / "__pycache__"
    machine.mkdir()
    (machine / "graphc_a.f-3.py311.nbi").touch()
    (machine / "graphc_b.f-3.py311.1.nbc").touch()  # machine code without its index
    listings = []
    listdir = os.listdir
    monkeypatch.setattr(cache.os, "listdir", lambda p: listings.append(p) or listdir(p))
    os.utime(machine, ns=(0, 10 ** 18))
    assert cache.compiled(["graphc_a", "graphc_b"]) == {"graphc_a"}
    assert cache.compiled(["graphc_b", "graphc_a"]) == {"graphc_a"} and len(listings) == 1
    (machine / "graphc_b.f-3.py311.nbi").touch()
    os.utime(machine, ns=(0, 10 ** 18 + 1))  # the directory changed
    assert cache.compiled(["graphc_a", "graphc_b"]) == {"graphc_a", "graphc_b"}
    assert len(listings) == 2
    os.utime(machine)  # changed just now: maybe again within its clock's tick, unseen
    cache.compiled(["graphc_a"])
    cache.compiled(["graphc_a"])
    assert len(listings) == 4


def test_the_cli_lists_kernels_and_the_cache(tmp_path):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    script = tmp_path / "m.py"
    script.write_text("import graphc as gc\n"
                      "def g():\n"
                      "    x, w = gc.tensor('x', ('B', 3)), gc.tensor('w', (3, 2))\n"
                      "    return gc.relu(x @ w)\n")
    done = subprocess.run([sys.executable, "-m", "graphc", "kernels", f"{script}:g"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "matmul+relu" in done.stdout and "BLAS or generated" in done.stdout
    info = subprocess.run([sys.executable, "-m", "graphc", "cache", "info"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert str(tmp_path) in info.stdout and "generated module" in info.stdout
    clear = subprocess.run([sys.executable, "-m", "graphc", "cache", "clear"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert clear.returncode == 0 and "removed" in clear.stdout


def test_a_change_to_the_code_kernels_compile_in_names_new_entries(monkeypatch):
    # Numba's cache checks only a generated module's own file; BLAS's call (blas.py) is
    # compiled into every contraction kernel, so its source is part of every entry's name
    import graphc as gc
    from graphc.backend.numba import build, driver, gemm
    from graphc.lower import lower
    from graphc.passes.pipeline import optimize
    x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3, 2))
    program = lower(optimize(gc.Graph.of([gc.relu(x @ w)]))[0])
    before = driver.Module(program, build.versions())
    gemm_before = gemm.source("float32")
    monkeypatch.setattr(build, "runtime_digest", lambda: "changed")
    gemm.source.cache_clear()
    after = driver.Module(program, build.versions())
    assert not set(before.kernel_modules) & set(after.kernel_modules)
    assert gemm.source("float32") != gemm_before
    gemm.source.cache_clear()


WARM = textwrap.dedent("""
    import json, sys
    import numba
    import numpy as np
    import graphc as gc
    x = gc.tensor("x", ("B", 3)); w = gc.tensor("w", (3, 2))
    # a product (its tile, the shared matmul's arrays) and a column logsumexp (its running
    # maxima and sums): every array generated code makes
    loss = gc.sum(gc.tanh(x @ w) * 1.5) + gc.sum(gc.logsumexp(x, axis=0))
    args = dict(x=np.ones((4, 3), np.float32), w=np.full((3, 2), 0.1, np.float32))
    value = float(gc.compile(loss, backend="cpu")(**args))
    # loaded without Numba's registries (warm.py), where the cache held it; nor Numba's
    # array module (arrays.py) or NumPy's masked arrays (the driver is called at its entry
    # point, past Numba's dispatch by type: runtime.py)
    registries = "numba.np.polynomial.polynomial_core" in sys.modules
    imported = [m for m in ("numba.np.arrayobj", "numpy.ma") if m in sys.modules]
    # compiling afterwards, graphc's and the user's own, loads them and works as ever
    other = gc.sum(gc.exp(x @ w) - w[0, 1])
    other_value = float(gc.compile(other, backend="cpu")(**args))
    @numba.njit
    def users(a):
        return np.polynomial.polynomial.polyval(2.0, a) + a.sum()
    print(json.dumps({"value": value, "expected": float(gc.compile(loss)(**args)),
                      "other": other_value, "other_expected": float(gc.compile(other)(**args)),
                      "users": users(np.array([1.0, 2.0])), "registries": registries,
                      "imported": imported}))
""")


def test_a_warm_load_skips_numbas_registries_and_later_compiles_still_work(tmp_path):
    """...and imports nothing Numba's own loading would not: each costs a warm first step
    20-35 ms."""
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    # the first compiles (and loads the registries), the second loads
    results = [run_json(WARM, env) for _ in range(2)]
    cold, warm = results
    assert cold["registries"] and not warm["registries"]
    assert warm["imported"] == []
    for r in results:
        assert r["value"] == pytest.approx(r["expected"], rel=1e-5)
        assert r["other"] == pytest.approx(r["other_expected"], rel=1e-5)
        assert r["users"] == pytest.approx(1 + 2 * 2 + 3)


SOURCE = textwrap.dedent("""
    import hashlib
    import graphc as gc
    from graphc.backend.numba import runtime
    runtime.CpuFunction._load = lambda self, retry=True: None  # printed, not compiled
    x, y = gc.tensor("x", ("B", "T", 4)), gc.tensor("y", ("B", "T"), dtype="int64")
    outs = [gc.mean(x), gc.cross_entropy(gc.reshape(x, (-1, 4)), gc.reshape(y, (-1,))),
            gc.sum(x, axis=2) / gc.mean(x)]
    source = gc.compile(outs, backend="cpu").impl.module_source.source
    print(hashlib.sha256(source.encode()).hexdigest())
""")


def test_a_graph_prints_the_same_source_in_every_process():
    """Its modules are named by their source, so a second process finds them only if it
    prints the same one. A reduction over two dims (B and T) once listed them in a set's
    order, which follows Python's string hashes, different in each process: under these
    hash seeds the source differed."""
    digests = set()
    for seed in ("0", "4", "7"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", SOURCE], capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        digests.add(done.stdout.split()[-1])
    assert len(digests) == 1


def test_kernels_of_one_structure_are_one_function_whatever_their_sizes(monkeypatch):
    """A kernel's sizes are its parameters, each number one of its own, and every array comes
    as an address, in the workspace or not: the big MLP's first two layers (784x512 and
    512x512 weights, one reading the input, the other the workspace) are one function,
    compiled once, and so are its first two weight updates."""
    import graphc as gc
    from graphc.backend.numba import runtime
    monkeypatch.setattr(runtime.CpuFunction, "_load", lambda self, retry=True: None)
    x, y = gc.tensor("x", ("B", 784)), gc.tensor("y", ("B",), dtype="int64")
    model = gc.nn.Sequential(gc.nn.Linear(784, 512), gc.nn.ReLU(), gc.nn.Linear(512, 512),
                             gc.nn.ReLU(), gc.nn.Linear(512, 10))
    loss = gc.nn.CrossEntropyLoss()(model(x), y)
    step = gc.train_step(loss, gc.optim.SGD(model.parameters(), lr=0.1), backend="cpu")
    ms = next(v for v in vars(step).values() if hasattr(v, "impl")).impl.module_source
    of = {k.name.split("_", 1)[1] + str(j): ms.function_of[k.name]
          for j, k in enumerate(k for kind, ks in ms.segments for k in ks)}
    assert of["matmul_add_relu0"] == of["matmul_add_relu1"]
    assert of["matmul_mul_sub10"] == of["matmul_mul_sub12"]
    assert len(set(ms.function_of.values())) == len(ms.kernel_modules) == 12


LAZY_MATMUL = textwrap.dedent("""
    import json, sys
    import numpy as np
    import graphc as gc
    from graphc.backend.numba import gemm
    x, w = gc.tensor("x", (8, 16)), gc.tensor("w", (16, 4))
    f = gc.compile([x @ w], backend="cpu", matmul=sys.argv[1])
    tile = gemm.module_name("float32", "tile")
    before = tile in sys.modules
    a = np.arange(128, dtype=np.float32).reshape(8, 16) / 64
    b = np.linspace(-1, 1, 64, dtype=np.float32).reshape(16, 4)
    out = f(x=a, w=b)
    from numba.np.ufunc import parallel
    print(json.dumps({"before": before, "after": tile in sys.modules,
                      "right": bool(np.allclose(out, a @ b, rtol=1e-5, atol=1e-6)),
                      "pool": parallel._is_initialized}))
""")


def test_a_cached_matmul_module_is_loaded_only_when_a_call_runs_it(tmp_path):
    """A warm start loads the shared generated matmul only for a contraction that runs it:
    loading one the step does not run cost the big MLP's warm first step 10 ms."""
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    cold = run_json(LAZY_MATMUL, env, "generated")  # compiled with the rest, as before
    assert (cold["before"], cold["after"], cold["right"]) == (True, True, True)
    # in the cache, and never run; nor is Numba's thread pool started (5 ms) for a step
    # that runs no parallel loop
    blas = run_json(LAZY_MATMUL, env, "blas")
    assert blas == {"before": False, "after": False, "right": True, "pool": False}
    generated = run_json(LAZY_MATMUL, env, "generated")  # loaded by the first call
    assert (generated["before"], generated["after"], generated["right"]) == \
        (False, True, True)
