"""BLAS threads per call (graphc/backend/blas.py): one thread for a call whose contractions are
small, the library's own setting for a large one and for a tiny one (OpenBLAS runs those on
one thread itself), restored after every call; the cpu backend's fast call path too. And never
more threads than the cores other processes leave free (graphc/backend/load.py: CoreBudget)."""
import types

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import graphc as gc
from graphc.backend import blas


class RecordingLib:
    """Stands in for one of threadpoolctl's BLAS library controllers."""

    def __init__(self, num_threads, asked):
        self.num_threads, self.asked = num_threads, asked

    def get_num_threads(self):
        return self.num_threads

    def set_num_threads(self, n):
        self.asked.append(n)
        self.num_threads = n


class RecordingPools:
    """Stands in for threadpoolctl's BLAS controller: records the limits set."""

    def __init__(self, num_threads):
        self.asked = []
        self.lib_controllers = [RecordingLib(num_threads, self.asked)]


class FixedBudget:
    """Stands in for the core budget: `free` of `cores` cores free, whatever the machine does."""

    def __init__(self, free, cores=4):
        self.cores, self._free = cores, free

    def free(self):
        return self._free


@pytest.fixture
def pools(monkeypatch):
    fake = RecordingPools(num_threads=4)
    monkeypatch.setattr(blas, "blas_pools", lambda: fake)
    monkeypatch.setattr(blas, "BUDGET", FixedBudget(free=4))  # a quiet four-core machine
    return fake


@pytest.fixture(scope="module")
def layer():
    x, W = gc.tensor("x", ("B", "D")), gc.tensor("W", ("D", "E"))
    return gc.compile(gc.relu(x @ W), backend="reference")  # the cpu one: test_cpu*.py


def test_the_largest_contraction_is_counted_at_the_calls_sizes():
    x, W, V = gc.tensor("x", ("B", "D")), gc.tensor("W", ("D", "E")), gc.tensor("V", ("E", 3))
    f = gc.compile((x @ W) @ V, backend="reference")
    sizes = {str(d): d for d in f.blas_threads.dims}
    at = {sizes["B"]: 1000, sizes["D"]: 64, sizes["E"]: 32}
    assert f.blas_threads.largest_flops(at) == 2 * 1000 * 64 * 32  # not the (B, E) @ (E, 3)


def test_dims_of_any_name_are_counted():
    """The counts are a Python function of the dims, whatever their names: keywords, names
    of the functions around them, or of the counts' own arguments (d0, d1...)."""
    x, W = gc.tensor("x", ("d1", "lambda")), gc.tensor("W", ("lambda", "math"))
    threads = gc.compile(x @ W @ gc.tensor("V", ("math", 2)), backend="reference").blas_threads
    at = {d: {"d1": 5, "lambda": 7, "math": 3}[str(d)] for d in threads.dims}
    assert threads.largest_flops(at) == 2 * 5 * 7 * 3


SMALL = dict(x=np.ones((256, 128), np.float32), W=np.ones((128, 64), np.float32))


def test_a_small_call_runs_blas_on_one_thread_and_restores_it(layer, pools):
    layer(**SMALL)
    assert pools.asked == [1, 4]  # one thread for the call, the library's four after it


def test_a_product_where_openblas_starts_a_second_thread_runs_on_one(layer, pools):
    # 64x128x64, the small MLP's: OpenBLAS splits it from 2^19 multiply-adds, and on two
    # shared cores the split step ran 68 us or, while the second core was slow, 120
    layer(x=np.ones((64, 64), np.float32), W=np.ones((64, 128), np.float32))
    assert pools.asked == [1, 4]


def test_the_thread_counts_are_read_and_set_in_the_libraries_themselves():
    from threadpoolctl import ThreadpoolController
    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    counters = [blas._counter(lib) for lib in libs]
    for lib, (get, _) in zip(libs, counters):
        if lib.internal_api == "openblas" and lib.threading_layer == "pthreads":
            assert getattr(get, "__self__", None) is not lib  # its C function, not a method
    for lib, (get, put) in zip(libs, counters):
        before = lib.get_num_threads()
        assert get() == before
        try:
            put(1)
            assert lib.get_num_threads() == 1  # as threadpoolctl reads it
        finally:
            put(before)
        assert lib.get_num_threads() == before


def test_a_tiny_call_leaves_blas_alone(layer, pools):
    layer(x=np.ones((32, 64), np.float32), W=np.ones((64, 64), np.float32))
    assert pools.asked == []


def test_the_cpu_backends_fast_path_limits_threads_too(pools):
    x, W = gc.tensor("x", ("B", "D")), gc.tensor("W", ("D", "E"))
    f = gc.compile(gc.relu(x @ W), backend="cpu", matmul="blas")  # no timing of the ways
    out = f(**SMALL)  # exact dtypes and layout: the generated fast call
    assert pools.asked == [1, 4]
    np.testing.assert_array_equal(out, np.full((256, 64), 128.0, np.float32))


def test_a_large_call_keeps_the_librarys_setting(layer, pools):
    n = 1 + int((blas.SERIAL_BELOW_FLOPS / 2) ** (1 / 3))  # n**3 multiply-adds: over the line
    x, W = np.zeros((n, n), np.float32), np.zeros((n, n), np.float32)
    assert layer.blas_threads.threads({d: n for d in layer.blas_threads.dims}) is None
    layer(x=x, W=W)
    assert pools.asked == []


def test_a_large_call_on_a_busy_machine_takes_the_free_cores(layer, pools, monkeypatch):
    n = 1 + int((blas.SERIAL_BELOW_FLOPS / 2) ** (1 / 3))
    x, W = np.zeros((n, n), np.float32), np.zeros((n, n), np.float32)
    monkeypatch.setattr(blas, "BUDGET", FixedBudget(free=1))  # others hold three of four
    layer(x=x, W=W)
    assert pools.asked == [1, 4]  # one thread for the call, the library's four after it


def test_the_core_budget_gives_a_thread_up_while_others_use_half_a_core(monkeypatch):
    from graphc.backend import load
    clock = {"t": 0.0, "busy": 0.0, "own": 0.0, "reads": 0}

    def readings(cpus=None):
        clock["reads"] += 1
        return clock["t"], clock["busy"], clock["own"]
    monkeypatch.setattr(load, "_readings", readings)
    monkeypatch.setattr(load, "time", types.SimpleNamespace(perf_counter=lambda: clock["t"]))
    budget = load.CoreBudget()
    budget.cores = 2
    for others, free in ((0.2, 2), (0.6, 1), (1.9, 1), (0.0, 2)):
        clock["t"] += 1.0
        clock["own"] += 1.0  # this process used a core meanwhile
        clock["busy"] += 1.0 + others
        assert budget.free() == free, others
        reads = clock["reads"]
        assert budget.free() == free and clock["reads"] == reads  # within INTERVAL_S: no read
    # a helper that held a core has exited: the sample that counted it is dropped, and the
    # next one covers only what came after (jobs.py's helper, reaped: runtime._compiling)
    clock["t"] += 1.0
    clock["own"] += 1.0
    clock["busy"] += 1.0 + 1.0
    assert budget.free() == 1
    clock["t"] += 0.05
    budget.forget()
    assert budget.free() == 2
    clock["t"] += 1.0
    clock["own"] += 1.0
    clock["busy"] += 1.0
    assert budget.free() == 2


def test_nothing_is_set_when_blas_is_already_serial(layer, pools):
    pools.lib_controllers[0].num_threads = 1  # e.g. OPENBLAS_NUM_THREADS=1: never raised
    layer(**SMALL)
    assert pools.asked == []


def test_a_graph_without_contractions_is_small_at_any_size():
    x = gc.tensor("x", ("B",))
    f = gc.compile(gc.exp(x).sum(), backend="reference")
    assert f.blas_threads.largest_flops({}) == 0
    assert f.blas_threads.threads({}) is None


def test_the_real_thread_pool_is_restored_after_a_call(layer):
    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    out = layer(x=np.ones((4, 3), np.float32), W=np.ones((3, 2), np.float32))
    np.testing.assert_array_equal(out, np.full((4, 2), 3.0, np.float32))
    after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert after == before


def test_numbas_pool_takes_one_thread_while_blas_takes_more(pools, monkeypatch):
    # one pool at a time: OpenBLAS's threads spin after each call and starve Numba's workers
    numba = pytest.importorskip("numba")
    numba.get_num_threads()  # the pool started
    cores = numba.config.NUMBA_NUM_THREADS
    monkeypatch.setattr(blas, "BUDGET", FixedBudget(free=cores, cores=cores))
    seen = {}
    for name, limit in (("blas on all", blas._Limit(None)), ("blas on one", blas._Limit(1)),
                        ("no blas", blas._Limit(None, blas=False))):
        with limit:
            seen[name] = numba.get_num_threads()
        assert numba.get_num_threads() == cores  # restored after the call
    assert seen == {"blas on all": 1, "blas on one": cores, "no blas": cores}


def test_only_the_cpus_this_process_may_use_count_as_load(monkeypatch):
    # a four-CPU machine, this process on CPUs 1 and 2: CPU 0's and 3's work is no load
    import io
    from graphc.backend import load
    stat = ("cpu  400 0 0 100 0 0 0 0 0 0\n"
            "cpu0 100 0 0 0 0 0 0 0 0 0\ncpu1 10 0 0 90 0 0 0 0 0 0\n"
            "cpu2 20 0 0 10 0 0 0 0 0 0\ncpu3 270 0 0 0 0 0 0 0 0 0\nintr 5\n")
    monkeypatch.setattr(load, "open", lambda *a, **k: io.StringIO(stat), raising=False)
    ticks = load._TICKS_PER_S
    assert load._readings()[1] == 400 / ticks
    assert load._readings(frozenset({1, 2}))[1] == pytest.approx(30 / ticks)


def test_the_cpu_backends_kernel_profile_runs_with_the_calls_threads(pools):
    # f.impl.profile times each kernel in the compiled driver: with BLAS's and Numba's
    # threads as a call has them, or a kernel's time includes the two pools fighting (the tiny transformer's
    # step profiled at 68 ms of kernels against 20 ms per step, 26 ms with this)
    x, W = gc.tensor("x", ("B", "D")), gc.tensor("W", ("D", "E"))
    f = gc.compile(gc.relu(x @ W), backend="cpu", matmul="blas")
    times = f.impl.profile(SMALL, {"B": 256, "D": 128, "E": 64}, repeat=2)
    assert pools.asked == [1, 4] and len(times) == 1
