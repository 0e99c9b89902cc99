"""Stress backend "cuda" on Numba's CUDA simulator: the kernels of softmax, log-sum-exp,
cross-entropy, tiled matmuls and an Adam train step, called many times with a tiny switch
interval (the interpreter changes threads as often as it can, so thread interleavings that
are rare in the suite come often). Counts two things:

- calls whose outputs differ from the reference backend's (a train step: its loss);
- kernel launches that, run twice from the same device memory, write different bytes (a
  race inside one launch; the launch and its kernel are printed).

    NUMBA_ENABLE_CUDASIM=1 python tests/backend/cuda_sim_stress.py [--calls 60]
        [--interval 1e-6] [--unguarded]

--unguarded leaves out graphc's lock around the simulator's shared-array allocation
(graphc/backend/cuda/simulator.py), to show the race it takes out.
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent / "cuda"))  # cuda_check

import numpy as np  # noqa: E402

import graphc as gc  # noqa: E402
from graphc.backend.cuda import runtime  # noqa: E402
from cuda_check import assert_same  # noqa: E402

RNG = np.random.default_rng(0)
LAUNCHES = {"all": 0, "differ": 0}


def run_twice(step) -> None:
    """A launch, then the same launch again from the device memory it started from."""
    if callable(step):
        return step()
    kernel, grid, block, args = step
    arrays = [a for a in args if hasattr(a, "copy_to_host")]
    before = [a.copy_to_host() for a in arrays]
    kernel[grid, block](*args)
    first = [a.copy_to_host() for a in arrays]
    for a, b in zip(arrays, before):
        a.copy_to_device(b)
    kernel[grid, block](*args)
    LAUNCHES["all"] += 1
    for j, (a, f) in enumerate(zip(arrays, first)):
        if a.copy_to_host().tobytes() != f.tobytes():
            LAUNCHES["differ"] += 1
            print(f"  launch of {kernel.__name__} (grid {grid}, block {block}) wrote other "
                  f"bytes the second time into argument {j}", flush=True)


def softmaxes():
    x = gc.tensor("x", ("B", 4))
    inf, nan = np.inf, np.nan
    return ([gc.logsumexp(x, axis=1), gc.max(x, axis=1), gc.sum(x, axis=0), gc.softmax(x),
             gc.log_softmax(x), gc.logsumexp(x, axis=0, keepdims=True)],
            {"x": np.array([[1, 2, 3, 4], [inf, inf, 0, 1], [-inf, -inf, -inf, -inf],
                            [nan, 1, 2, 3], [-inf, 0, -inf, 5], [2, 2, 2, 2]], np.float32)})


def cross_entropy():
    x, y = gc.tensor("x", ("B", 5)), gc.tensor("y", ("B",), dtype="int64")
    return ([gc.cross_entropy(x, y), gc.grad(gc.cross_entropy(x, y), [x])[0]],
            {"x": RNG.standard_normal((6, 5)).astype(np.float32), "y": RNG.integers(0, 5, 6)})


def matmuls():
    i, j = gc.tensor("i", ("B", 3), "float64"), gc.tensor("j", (3, 11), "float64")
    x, w = gc.tensor("x", ("B", 13)), gc.tensor("w", (11, 13))
    return ([i @ j, gc.relu(x @ w.T + 1.0), gc.einsum("bk,nk->nb", x, w)],
            {"i": RNG.standard_normal((19, 3)), "j": RNG.standard_normal((3, 11)),
             "x": RNG.standard_normal((19, 13)).astype(np.float32),
             "w": RNG.standard_normal((11, 13)).astype(np.float32)})


def graph_mismatches(build, calls: int) -> int:
    outputs, feeds = build()
    ref, dev = gc.compile(outputs, backend="reference"), gc.compile(outputs, backend="cuda")
    want, bad = ref(**feeds), 0
    for _ in range(calls):
        try:
            assert_same(want, dev(**feeds))
        except AssertionError as e:
            bad += 1
            print("  differs from the reference:", str(e).strip().splitlines()[0], flush=True)
    return bad


def adam_mismatches(calls: int) -> int:
    X = RNG.standard_normal((6, 5)).astype(np.float32)
    Y = RNG.integers(0, 3, 6)

    def step(backend):
        gc.nn.manual_seed(1)
        model = gc.nn.Sequential(gc.nn.Linear(5, 8), gc.nn.ReLU(), gc.nn.Linear(8, 3))
        x, y = gc.tensor("x", ("B", 5)), gc.tensor("y", ("B",), dtype="int64")
        opt = gc.optim.Adam(model.parameters(), lr=0.05)
        return gc.train_step(gc.cross_entropy(model(x), y), opt, backend=backend)
    ref, dev, bad = step("reference"), step("cuda"), 0
    for k in range(calls):
        want, got = float(ref(x=X, y=Y)), float(dev(x=X, y=Y))
        if not np.isclose(got, want, rtol=2e-5, atol=2e-6):
            bad += 1
            print(f"  step {k}: loss {got}, the reference's {want}", flush=True)
            ref, dev = step("reference"), step("cuda")  # both again from the same start
    return bad


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--calls", type=int, default=60)
    args.add_argument("--interval", type=float, default=1e-6)
    args.add_argument("--unguarded", action="store_true")
    opts = args.parse_args()
    if opts.unguarded:
        runtime.guard_shared_arrays = lambda: None
    runtime._run = run_twice
    sys.setswitchinterval(opts.interval)
    cases = {"softmax, log-sum-exp, max, sum": lambda c: graph_mismatches(softmaxes, c),
             "cross-entropy and its gradient": lambda c: graph_mismatches(cross_entropy, c),
             "tiled matmuls": lambda c: graph_mismatches(matmuls, c),
             "Adam train step": adam_mismatches}
    start, wrong = time.time(), 0
    with np.errstate(all="ignore"):
        for name, run in cases.items():
            n = run(opts.calls)
            wrong += n
            print(f"{name}: {n} of {opts.calls} calls differ from the reference", flush=True)
    print(f"{'unguarded' if opts.unguarded else 'guarded'}, switch interval {opts.interval}: "
          f"{wrong} calls differ from the reference; {LAUNCHES['differ']} of "
          f"{LAUNCHES['all']} launches differ between two runs ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", RuntimeWarning)
    main()
