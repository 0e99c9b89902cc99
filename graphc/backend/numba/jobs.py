"""Two processes compile a program: a helper compiles modules from the front of the list while
this process compiles from the back.

Numba compiles on one thread, and a program's modules are independent: each kernel is a C
entry point in its own module (entry.py), which calls the shared matmul modules (gemm.py)
through cells and compiles without them, and the driver calls the kernels by symbol, needing
none of them. What either process compiles lands in the on-disk cache, where loading it takes
milliseconds. So where there is enough to compile (MIN_SECONDS) and a core is idle, a helper
process (forked from this one where that is safe, forked.py, else this module run as a script
by a new Python) takes modules from the front of the list (the
matmul modules first, then the driver, which only the helper compiles, then the kernels,
longest first from both ends), this process from the back, each claiming a module before
compiling it (a file created exclusively), until every module is claimed.

Tiers: a matmul module that every kernel calling it can do without, running BLAS instead
(driver.Module.deferrable: the tile and blocks modules of a program of dense products), the
helper compiles after the rest, and this process returns as soon as the rest is in: the big
MLP's first step came after 3.9 s instead of 6.1. The runtime chooses BLAS until the helper is
done, then loads the modules and measures (runtime.py: _compiling). A process that exits
first helps the helper and waits for it (Background.finish).

The helper only fills the cache. This process then imports every module as it would have
without it, so a module the helper did not finish (it failed, or was killed) is compiled here,
and no result depends on the helper. GRAPHC_COMPILE_JOBS=1 turns it off.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref

from ..load import LoadMeter, usable_cores
from . import cache, forked, gemm, modes

ENV = "GRAPHC_COMPILE_JOBS"
# A helper started as a new Python costs about 1 s of a core (Python, Numba, graphc, Numba's
# target setup); a forked one starts at once. It starts where the modules to compile take
# about MIN_SECONDS (MIN_SECONDS_FORKED), as estimated from what they took here (a shared
# matmul module 1.6-2.9 s, a contraction kernel 0.4-0.9 s, another kernel 0.15-0.4 s), and
# only where a core is idle: in a suite of many small compiles run on every core, helpers
# made it 40% slower. (The load average was no guide: it counts this process, and the helper
# of its last compile, for a minute.) Forked, three small kernels compiled in 0.60 s instead
# of 0.86-0.90.
MIN_SECONDS = 4.0
MIN_SECONDS_FORKED = 0.5
IDLE_WINDOW_S = 0.05  # how long the other processes' use of the cores is watched
IDLE_CORES = 0.75     # how much of a core they must leave idle
SECONDS = {"matmul": 2.0, "contraction": 0.5, "kernel": 0.25, "call": 0.016,  # call: a driver's
           "parallel": 0.8}  # a kernel's parallel version (kernels.py: render_parallel)
WAIT_S = 600     # the longest the helper may take; past it, this process compiles the rest
POLL_S = 0.02    # how often a process waiting for a module the other compiles looks again


def _busy() -> bool:
    """Whether no core is idle for a helper: fewer than two cores, or other processes leave
    less than IDLE_CORES of one beside this process (load.py's meter, over IDLE_WINDOW_S at
    least, while this process readies Numba to compile)."""
    cores = usable_cores()
    if cores < 2:
        return True
    meter, start = LoadMeter(), time.monotonic()
    _ready_to_compile()
    time.sleep(max(0.0, IDLE_WINDOW_S - (time.monotonic() - start)))
    return cores - 1 - meter.others() < IDLE_CORES


def _ready_to_compile() -> None:
    """Numba's typing and lowering registries installed, as the process's first compile
    would (0.13 s): before a fork, the helper starts with them (forked.py)."""
    from numba.core import registry
    from .nrt import initialize
    initialize(registry.cpu_target.target_context)  # the runtime's code saved for a warm start
    registry.cpu_target.typing_context.refresh()
    registry.cpu_target.target_context.refresh()


def _seconds(item: dict) -> float:
    if "driver" in item:
        return SECONDS["call"] * item["calls"]
    if item.get("parallel"):
        return SECONDS["parallel"]
    return SECONDS["matmul" if "matmul" in item else "contraction" if item["needs"] else
                   "kernel"]


def compile_in_two(module_source, later: frozenset = frozenset()) -> frozenset:
    """Compile the modules of `module_source` (driver.Module) not yet in the cache, shared with
    a helper process where that pays; return when both are done. Importing them afterwards
    loads them from the cache.

    `later`: shared matmul modules ((dtype, part)) the program can run without for a while,
    its products on BLAS (driver.Module.deferrable). Where a helper starts, it compiles those
    after the rest, and this returns before. Returns the modules that a helper of this
    process is still compiling (`compiling` says when they are done)."""
    if not _helpers_allowed():
        return frozenset()
    for background in list(_running):  # a module the program needs now: its helper first
        if set(background.modules) & (module_source.gemm_modules - later):
            background.wait()
    pending = frozenset(m for b in _running for m in b.modules) & module_source.gemm_modules
    plan = [item for item in _plan(module_source)
            if tuple(item.get("matmul", ())) not in pending]  # compiled by a running helper
    return pending | _in_two(plan, [item for item in plan
                                    if tuple(item.get("matmul", ())) in later])


def load(sources: dict) -> None:
    """Import the modules `sources` (name -> source), those the cache lacks compiled first,
    shared with a helper where that pays: a program's kernels' parallel versions, when a call
    first reaches their size (runtime.py; the tiny transformer's first step needs 4 of 8)."""
    sources = {n: src for n, src in sources.items()
               if getattr(sys.modules.get(n), "__graphc_source__", None) != src}
    if sources and _helpers_allowed():
        done = cache.compiled(sources)
        for name in set(sources) - done:
            cache.write(sources[name], name)
        _in_two(_ends_first([{"kernel": n, "name": n, "needs": [], "after": [],
                              "parallel": True} for n in sorted(set(sources) - done)]))
    for name, src in sources.items():
        cache.load(src, name)


def _helpers_allowed() -> bool:
    """Whether a helper may compile: not run as Python (NUMBA_DISABLE_JIT), and not turned
    off (GRAPHC_COMPILE_JOBS=1)."""
    from numba.core import config
    return not config.DISABLE_JIT and int(os.environ.get(ENV, "2") or 2) >= 2


def _in_two(plan: list, deferred: list = ()) -> frozenset:
    """Compile `plan`'s items here and in a helper, where there is enough of them and a core
    is idle; `deferred` (of them) the helper compiles after the rest, and this returns before:
    the modules it is still compiling."""
    least = min(MIN_SECONDS, MIN_SECONDS_FORKED) if forked.possible() else MIN_SECONDS
    if sum(_seconds(item) for item in plan) < least or _busy():
        return frozenset()
    now = [item for item in plan if item not in deferred]
    waits = {item["name"] for item in deferred}
    if any(a in waits for item in now for a in item["after"]):  # (deferrable: never)
        deferred, now = [], plan
    claims = tempfile.mkdtemp(prefix=".claims-", dir=cache.cache_dir())
    try:
        helper = _start(claims, now, deferred)
    except OSError:  # no Python to start (an embedded interpreter): compile here, alone
        shutil.rmtree(claims, ignore_errors=True)
        return frozenset()
    try:
        _work(claims, [item for item in now[::-1] if "driver" not in item], helper)
        if deferred:
            _wait_done(claims, now, helper)
            background = Background(helper, claims, deferred)
            helper = None  # still compiling: the Background waits for it
            return frozenset(background.modules)
        helper.wait(timeout=WAIT_S)  # (a helper still running would be measured with the
        # first call's matmul choices: it made BLAS's threads 8x slower, and the choice wrong)
    except subprocess.TimeoutExpired:
        pass  # what it has not compiled, importing compiles here
    finally:
        if helper is not None:
            if helper.poll() is None:
                helper.kill()
                helper.wait()
            shutil.rmtree(claims, ignore_errors=True)
    return frozenset()


def compiling(modules) -> bool:
    """Whether a helper of this process is still compiling one of `modules`."""
    return any(set(b.modules) & set(modules) and not b.done() for b in list(_running))


class Background:
    """A helper still compiling the shared matmul modules a program can start without
    (`modules`, the plan's `items`), after compiling its part of the rest. `done()` says
    whether it has finished (or failed: loading the modules then compiles them here). A
    process that exits first helps it and waits for it, so that its work reaches the cache
    and no process outlives its caller."""

    def __init__(self, helper, claims: str, items: list):  # a Popen, or forked.Forked
        self.helper, self.claims, self.items = helper, claims, items
        self.modules = [tuple(item["matmul"]) for item in items]
        _running.append(self)

    def done(self) -> bool:
        if self.helper.poll() is None:
            return False
        self.close()
        return True

    def finish(self) -> None:
        """Help the helper with the modules it has not started, then wait for it: at exit,
        where this process has nothing else to do (and a core to do it with)."""
        if self.helper.poll() is None:
            try:
                _work(self.claims, self.items[::-1], self.helper)
            except Exception:  # noqa: BLE001 (the next process compiles what is missing)
                pass
        self.wait()

    def wait(self) -> None:
        try:
            self.helper.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.helper.kill()
            self.helper.wait()
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.claims, ignore_errors=True)
        if self in _running:
            _running.remove(self)


_running: list = []
_settling: list = []  # weak references to functions to settle once their helpers are done


def settle_at_exit(function) -> None:
    """Have `function.settle()` called as this process exits, after its helpers are done: a
    function that ran BLAS while they compiled measures its matmul choices then, which the
    next process would otherwise measure in its first call (0.1-0.3 s of a warm start)."""
    _settling.append(weakref.ref(function))


@atexit.register
def _finish_helpers() -> None:
    for background in list(_running):
        background.finish()
    for ref in _settling:
        function = ref()
        if function is not None:
            try:
                function.settle()
            except Exception:  # noqa: BLE001 (at exit: the next process measures instead)
                pass
    _settling.clear()


def _wait_done(claims: str, items: list, helper) -> None:
    """Until every one of `items` is done (or the helper has stopped: importing compiles what
    it left)."""
    while not all(os.path.exists(_path(claims, item, ".done")) for item in items):
        if helper.poll() is not None:
            return
        time.sleep(POLL_S)


def _plan(ms) -> list[dict]:
    """What is not compiled yet, in the helper's order: the matmul modules, the driver, then
    the kernels, longest first from both ends (this process takes them from the back, so
    neither waits for the other while there is work it can do). Each item names the modules
    it needs compiled first."""
    shared = {(t, part): gemm.module_name(t, part) for t, part in ms.gemm_modules}
    driver = cache.name_of(ms.driver_source)
    done = cache.compiled([*shared.values(), *ms.kernel_modules, driver])
    matmul = []
    for t, part in sorted(ms.gemm_modules, key=lambda m: m[1] != "tile"):
        name = shared[t, part]
        if name not in done:
            tile = gemm.module_name(t, "tile")
            matmul.append({"matmul": [t, part], "name": name,
                           "after": [tile] if part in ("product", "items") else []})
    needs = {f"graphc_k_{ms.function_of[ks.name]}": sorted(ks.gemm)
             for ks in ms.kernel_sources.values() if getattr(ks, "gemm", None)}
    kernels = []
    for name, src in ms.kernel_modules.items():
        if name not in done:
            cache.write(src, name)
            kernels.append({"kernel": name, "name": name, "needs": needs.get(name, []),
                            "after": []})  # the matmul calls go through cells (entry.py)
    kernels = _ends_first(kernels)
    waits = {item["name"] for item in matmul}
    for item in matmul:
        item["after"] = [a for a in item["after"] if a in waits]  # the rest is compiled
    return matmul + ([] if driver in done else _driver(ms, driver)) + kernels


def _ends_first(items: list) -> list:
    """The items longest first from both ends of the list, the shortest in the middle (by
    their estimated seconds: the contraction kernels at the ends): each process takes from its
    end, so both end on short items, and neither waits long for the other's last one."""
    ranked = sorted(items, key=_seconds, reverse=True)
    return ranked[0::2] + ranked[1::2][::-1]


def _driver(ms, name: str) -> list[dict]:
    """The driver (module `name`), for the helper alone (this process would link it to
    stand-ins): it calls the kernels by symbol, so it needs none of them compiled, and it is
    the longest module of a large program (the tiny transformer's, 224 calls: 3.6 s), which
    compiled last, alone, once every kernel had."""
    runs = [f"run{j}" for j, (kind, _) in enumerate(ms.segments) if kind == "native"]
    if not runs:
        return []
    cache.write(ms.driver_source, name)
    return [{"driver": runs, "name": name, "dims": len(ms.dims), "after": [],
             "kernels": sorted(set(ms.function_of.values())),
             "calls": sum(len(kernels) for kind, kernels in ms.segments if kind == "native")}]


def _work(claims: str, order: list, other=None) -> None:
    """Compile, in `order`, every item no process has claimed, each once the items it comes
    after are done; return when every item is claimed (or `other`, the helper, stopped while
    this one waited for it: importing then compiles what it left)."""
    with gemm.slp_vectorizer():
        while True:
            free = [item for item in order if not os.path.exists(_path(claims, item))]
            if not free:
                return
            ready = [item for item in free if all(os.path.exists(_path(claims, a, ".done"))
                                                  for a in item["after"])]
            if not ready:
                if other is not None and other.poll() is not None:
                    return
                time.sleep(POLL_S)
                continue
            item = ready[0]
            if not _claim(claims, item):
                continue
            try:
                if "matmul" in item:
                    gemm.load(*item["matmul"])
                    _done(claims, item)  # the kernels waiting for it go on meanwhile
                    modes.compile_timings(*item["matmul"])  # what the first call measures
                elif "driver" in item:
                    _compile_driver(item)
                else:
                    _load_written(item["kernel"])
            except Exception:  # noqa: BLE001 (importing compiles it again, and says why)
                pass
            finally:
                _done(claims, item)


def _done(claims: str, item) -> None:
    """Mark `item` done: the items after it may start."""
    with open(_path(claims, item, ".done"), "w"):
        pass


def _compile_driver(item: dict) -> None:
    """Compile the driver's native segments for the cache, linked to stand-ins for the kernels
    this process has not compiled (entry.stand_in): nothing here calls it."""
    from .build import signature
    from .entry import stand_in
    for function in item["kernels"]:
        stand_in(function)  # where this process has not compiled the kernel
    module = _load_written(item["name"])
    for run in item["driver"]:
        getattr(module, run).compile(signature(item["dims"]))


def _load_written(name: str):
    """Module `name`, whose source the plan wrote into the cache directory."""
    with open(os.path.join(cache.cache_dir(), name + ".py"), encoding="utf-8") as f:
        return cache.load(f.read(), name)


def _path(claims: str, item, suffix: str = "") -> str:
    return os.path.join(claims, (item if isinstance(item, str) else item["name"]) + suffix)


def _claim(claims: str, item) -> bool:
    try:
        os.close(os.open(_path(claims, item), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


# How the helper starts:
# - this graphc first on its path: `python -m` puts the working directory first, and one
#   holding another graphc (a checkout beside an installed one) gave the helper that graphc,
#   which failed on this one's plan (and this process compiled it all alone);
# - graphc's package bare, its __init__ not run: the helper compiles generated modules, which
#   import only graphc.backend.numba, and the DSL, the ops and sympy that __init__ imports
#   took 0.35 s of its start, while this process compiled alone.
HELPER = """import os, runpy, sys, types
sys.path.insert(0, {root!r})
package = types.ModuleType("graphc")
package.__path__ = [os.path.join({root!r}, "graphc")]
sys.modules["graphc"] = package
runpy.run_module("graphc.backend.numba.jobs", run_name="__main__")"""


def _start(claims: str, plan: list, later: list = ()):
    """The helper, forked where that is safe (forked.py), else a new Python: a Popen, or what
    answers as one."""
    if forked.possible():
        _ready_to_compile()  # (done already, unless _busy was not asked)
        return forked.Forked(lambda: _helper(claims, plan, later))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))  # where the graphc package is: HELPER puts it first
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache.cache_dir())
    helper = subprocess.Popen([sys.executable, "-c", HELPER.format(root=root), claims],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env, text=True)
    helper.stdin.write(json.dumps({"plan": plan, "later": list(later)}))
    helper.stdin.close()
    return helper


def _helper(claims: str, plan: list, later: list) -> None:
    _work(claims, plan)
    _work(claims, later)  # the caller runs meanwhile (and helps, as it exits)


if __name__ == "__main__":
    work = json.load(sys.stdin)
    _helper(sys.argv[1], work["plan"], work["later"])
    # everything it compiled is in the cache (each file written whole, then renamed), and
    # nothing else is left to do: Python's and Numba's teardown took 0.2-0.4 s, which the
    # process waiting for this one spent idle
    os._exit(0)
