"""Block "compile latency": how long a user waits for the big MLP's first training step
(gc.train_step, backend "cpu"), each time in a fresh process (first_step.py): from process
start with an empty compile cache (GRAPHC_CACHE_DIR a new directory), then again with the
cache that run filled; and `import graphc` alone."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .table import Row

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "first_step.py")
CASE = "big MLP train_step, cpu"


def rows(protocol, args, footnotes: list[str]) -> list[Row]:
    cache = tempfile.mkdtemp(prefix="graphc-bench-cache-")
    try:
        imports = _runs(protocol, args.latency_repeats, cache, ["--import-only"])
        cold = _runs(protocol, 1, cache, [], fresh_each=True)
        warm = _runs(protocol, args.latency_repeats, cache, [])
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return [
        _row("import", imports, "import_s", "`import graphc` alone, fresh process"),
        _row("cold first step", cold, "from_start",
             f"process start to end of step 1, empty cache; "
             f"{_median(cold, 'after_import'):.2f} s of it after import; the process "
             f"exited at {_median(cold, 'exited'):.2f} s (its compile helper done)"),
        _row("warm first step", warm, "from_start", "same, with the cold run's cache"),
        _row("warm first step (after import)", warm, "after_import",
             "end of import to end of step 1, warm cache"),
    ]


def _runs(protocol, repeats, cache, flags, fresh_each=False):
    """(results, quiet runs, wanted runs): a noisy run is repeated while the protocol's
    budget lasts. fresh_each: every attempt gets an empty cache (a retry of the cold run
    must not find what the noisy attempt compiled)."""
    results, quiet, attempts = [], 0, 0
    while quiet < repeats and (attempts < repeats or protocol.budget_s > 0):
        attempts += 1
        if fresh_each:
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
        seconds, others = protocol.time_once(lambda: results.append(_child(cache, flags)))
        if others < protocol.settings.quiet:
            quiet += 1
        else:
            protocol.spend(seconds)
            results[-1]["noisy"] = True
        if attempts >= 3 * repeats:
            break
    kept = [r for r in results if not r.get("noisy")] or results
    return kept, quiet, repeats


def _child(cache, flags) -> dict:
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache, NUMBA_CACHE_DIR=os.path.join(cache, "numba"))
    # as on a user's machine, Python keeps the bytecode of what it imports (graphc's and the
    # generated modules): a sandbox that turns that off recompiles every source file in each
    # fresh process, 0.09 s of a warm first step here
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    launched = time.time()
    done = subprocess.run([sys.executable, CHILD, *flags], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"first_step.py failed: {done.stderr.strip()[-300:]}")
    exited = time.time()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["exited"] = exited - launched
    result["from_start"] = result.get("stepped", 0) - launched
    result["after_import"] = result.get("stepped", 0) - result["imported"]
    return result


def _median(runs, key) -> float:
    return statistics.median(r[key] for r in runs[0])


def _row(system, runs, key, note) -> Row:
    _, quiet, wanted = runs
    counts = f"{quiet}/{wanted}"
    return Row("compile latency", CASE, system, seconds=_median(runs, key), note=note,
               quiet=counts if quiet >= wanted else f"noisy {counts}")
