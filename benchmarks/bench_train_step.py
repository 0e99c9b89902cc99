#!/usr/bin/env python
"""MLP training step (float32, ReLU, softmax cross-entropy, SGD): graphc vs its peers, one process.

Prints, per config, the median step time of each system and its ratio to hand-written NumPy
(and to PyTorch eager / jax.jit where installed), plus graphc's build time (graph + gc.grad +
passes + compile). Peers are optional: missing ones are skipped. Timing: warm up, then the
median over repeated blocks, so a noisy shared machine distorts less; quote ratios from one run.

    python benchmarks/bench_train_step.py [--configs small,big] [--backend reference]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from peers import PEERS, make_data, numpy_step, reference_update  # noqa: E402

CONFIGS = {"small": ((64, 128, 10), 64), "big": ((784, 512, 512, 10), 256)}


def graphc_step(sizes, params, X, y, lr, backend, opt_level):
    import graphc as gc
    t0 = time.perf_counter()
    x_t = gc.tensor("x", ("B", sizes[0]))
    y_t = gc.tensor("y", ("B",), dtype="int64")
    ps = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        ps += [gc.tensor(f"W{i}", (a, b)), gc.tensor(f"b{i}", (b,))]
    h = x_t
    n = len(ps) // 2
    for i in range(n):
        h = h @ ps[2 * i] + ps[2 * i + 1]
        if i < n - 1:
            h = gc.relu(h)
    loss = gc.cross_entropy(h, y_t)
    grads = gc.grad(loss, ps)
    f = gc.compile([loss] + [p - lr * g for p, g in zip(ps, grads)], backend=backend,
                   opt_level=opt_level)
    build = time.perf_counter() - t0
    state = {"P": [p.copy() for p in params]}
    names = [p.name for p in ps]

    def step():
        out = f(x=X, y=y, **dict(zip(names, state["P"])))
        state["P"] = list(out[1:])
    return step, lambda: state["P"], build, len(f.graph)


def median_step(step, seconds=1.0, blocks=7):
    step()
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 0.3 or n < 3:
        step()
        n += 1
    k = max(1, int(seconds / blocks / ((time.perf_counter() - t0) / n)))
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(k):
            step()
        times.append((time.perf_counter() - t0) / k)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="small,big")
    ap.add_argument("--backend", default=os.environ.get("GRAPHC_BACKEND", "reference"))
    ap.add_argument("--lr", type=float, default=0.01)
    args = ap.parse_args()
    for name in args.configs.split(","):
        sizes, batch = CONFIGS[name]
        params, X, y = make_data(sizes, batch)
        ref = reference_update(params, X, y, args.lr)
        print(f"== {name}: {'-'.join(map(str, sizes))}, batch {batch}")
        results, notes = {}, {}
        systems = [("numpy (hand-written)", lambda: numpy_step(params, X, y, args.lr), None)]
        for label, opt in (("graphc opt_level=0", 0), ("graphc optimized", None)):
            systems.append((label, None, opt))
        for label, make in PEERS.items():
            systems.append((label, lambda make=make: make(params, X, y, args.lr), None))
        for label, make, opt in systems:
            try:
                if make is None:
                    step, get, build, nodes = graphc_step(sizes, params, X, y, args.lr,
                                                          args.backend, opt)
                    notes[label] = f"build {build * 1e3:.1f} ms, {nodes} nodes"
                else:
                    step, get = make()
            except ImportError as e:
                print(f"  {label:26s} skipped ({e.name} not installed)")
                continue
            step()
            err = max(float(np.max(np.abs(g - r))) for g, r in zip(get(), ref))
            results[label] = median_step(step)
            notes[label] = f"first-step err {err:.1e}  " + notes.get(label, "")
        report(results, notes)


def report(results: dict, notes: dict) -> None:
    """One line per system: ms/step and ratios (>1 = faster than the peer), same run."""
    peers = [p for p in ("numpy (hand-written)", "torch eager", "jax.jit") if p in results]
    for label, t in results.items():
        ratios = "  ".join(f"x{results[p] / t:5.2f} vs {p.split()[0]}" for p in peers)
        print(f"  {label:26s} {t * 1e3:8.3f} ms/step  {ratios}  {notes[label]}")
    print("  (xN > 1: faster than that peer; every ratio measured in this run)")


if __name__ == "__main__":
    main()
