#!/usr/bin/env python
"""Compile time: how long graphc takes from model code to a callable, per stage, cold and warm.

Stages: build the forward graph, gc.grad (the backward graph), the optimization pipeline,
and the first call. "cold" is the first time in a fresh process (sympy's caches empty),
"warm" the median of repeats of the same model in the same process. The reference backend
(the default here: the pipeline's own cost) compiles nothing native; `--backend cpu` adds the
Numba compile of the kernels (and its on-disk cache) to the last stage.

    python benchmarks/bench_compile.py            # models, then growth with graph size
    python benchmarks/bench_compile.py --growth   # only the growth table
    python benchmarks/bench_compile.py --growth --backend cpu
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import graphc as gc  # noqa: E402

BACKEND = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "reference"
from graphc.passes.kernels import kernels  # noqa: E402
from graphc.passes.pipeline import optimize  # noqa: E402


def mlp():
    x, y = gc.tensor("x", ("B", 784)), gc.tensor("y", ("B",), "int64")
    model = gc.nn.Sequential(gc.nn.Linear(784, 256), gc.nn.ReLU(), gc.nn.Linear(256, 256),
                             gc.nn.ReLU(), gc.nn.Linear(256, 10))
    feeds = {"x": np.zeros((64, 784), np.float32), "y": np.zeros(64, np.int64)}
    return gc.cross_entropy(model(x), y), model, feeds


def transformer():
    from tiny_transformer import CharTransformer
    T = 32
    ids, y = gc.tensor("ids", ("B", T), "int64"), gc.tensor("y", ("B", T), "int64")
    model = CharTransformer(vocab=60, context=T, dim=64, heads=4, layers=2)
    logits = model(ids)
    feeds = {"ids": np.zeros((32, T), np.int64), "y": np.zeros((32, T), np.int64)}
    return gc.cross_entropy(logits, y), model, feeds


def stages(make):
    times = {}
    t0 = time.perf_counter()
    loss, model, feeds = make()
    times["build"] = time.perf_counter() - t0
    params = model.parameters()
    t0 = time.perf_counter()
    grads = gc.grad(loss, params)
    times["grad"] = time.perf_counter() - t0
    raw = gc.Graph.of([loss] + grads)
    t0 = time.perf_counter()
    graph, _ = optimize(raw)
    times["optimize"] = time.perf_counter() - t0
    f = gc.nn.function([loss] + grads, backend=BACKEND)
    t0 = time.perf_counter()
    f(**feeds)
    times["first call"] = time.perf_counter() - t0
    fast, _ = optimize(raw, fast_math=True)
    return times, (len(raw), len(graph), len(kernels(raw)), len(kernels(graph)), len(fast),
                   len(kernels(fast)))


def main():
    for name, make in (("mlp 784-256-256-10", mlp), ("transformer 2 blocks", transformer)):
        cold, sizes = stages(make)
        warm = [stages(make)[0] for _ in range(3)]
        print(f"== {name}: {sizes[0]} -> {sizes[1]} nodes, {sizes[2]} -> {sizes[3]} kernels "
              f"(fast_math: {sizes[4]} nodes, {sizes[5]} kernels)")
        for stage in cold:
            w = statistics.median(r[stage] for r in warm)
            print(f"  {stage:12s} cold {cold[stage] * 1e3:8.1f} ms   warm {w * 1e3:8.1f} ms")
        total_c = sum(cold.values())
        total_w = statistics.median(sum(r.values()) for r in warm)
        print(f"  {'total':12s} cold {total_c * 1e3:8.1f} ms   warm {total_w * 1e3:8.1f} ms")




# ---- growth with graph size: compile time must be linear ------------------------------------
def chain(n: int):
    """x -> tanh -> *0.9 -> tanh -> ...: n elementwise ops in one chain."""
    x = gc.tensor("x", ("B", 16))
    y = x
    for k in range(n):
        y = gc.tanh(y) if k % 2 == 0 else y * 0.9
    return x, gc.sum(y)


def nested(depth: int):
    """y = tanh(y) * 0.9, `depth` times (the issue's nested body)."""
    return chain(2 * depth)


def wide_sum(n: int):
    """x0 + x1 + ... + x(n-1): one kernel reading n inputs."""
    xs = [gc.tensor(f"x{k}", (4,)) for k in range(n)]
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return xs, total


def compile_seconds(x, loss, grad: bool) -> float:
    t0 = time.perf_counter()
    outs = [loss] + (gc.grad(loss, [x]) if grad else [])
    f = gc.compile(outs, backend=BACKEND)
    feeds = {i.name: np.full(tuple(int(d.subs({d: 2})) if d.free_symbols else int(d)
                                   for d in i.shape), 0.5, np.float32) for i in f.spec.inputs}
    f(**feeds)
    return time.perf_counter() - t0


def growth():
    print(f"== compile time (build + grad + optimize + first call), backend {BACKEND}")
    print(f"  {'graph':34s} {'forward':>10s} {'fwd + grad':>12s}")
    for n in (10, 100, 1000, 10000):
        x, loss = chain(n)
        fwd = compile_seconds(x, loss, grad=False)
        x, loss = chain(n)
        both = compile_seconds(x, loss, grad=True)
        print(f"  {f'elementwise chain of {n} ops':34s} {fwd:9.3f}s {both:11.3f}s")
    for depth in (10, 40, 200):
        x, loss = nested(depth)
        fwd = compile_seconds(x, loss, grad=False)
        x, loss = nested(depth)
        both = compile_seconds(x, loss, grad=True)
        print(f"  {f'nested tanh(y) * 0.9, depth {depth}':34s} {fwd:9.3f}s {both:11.3f}s")
    xs, total = wide_sum(5000)
    t0 = time.perf_counter()
    f = gc.compile(total, backend=BACKEND)
    out = f(**{x.name: np.ones(4, np.float32) for x in xs})
    assert float(out[0]) == 5000.0
    print(f"  {'sum of 5,000 inputs':34s} {time.perf_counter() - t0:9.3f}s")


if __name__ == "__main__" and "--growth" in sys.argv:
    growth()
elif __name__ == "__main__":
    main()
    growth()
