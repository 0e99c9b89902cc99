#!/usr/bin/env python
"""Backend "cuda" on a GPU against cuBLAS and PyTorch (benchmarks/gpu_check.sh runs it).

1. Matmul: TFLOP/s of graphc's generated kernel for square float32 matrices (1024, 2048,
   4096; the kernel alone, timed with CUDA events), against cuBLAS fp32 (TF32 off) through
   CuPy or PyTorch, whichever is installed.
2. MLP training step (float32, ReLU, softmax cross-entropy, SGD): the CPU benchmark's two
   sizes (784-512-512-10 at batch 256, 64-128-10 at batch 64) and a 4096-wide one
   (4096-4096-4096-10 at batch 512), through gc.train_step(..., backend="cuda") (parameters
   stay on the device; the batch is copied in and the loss copied out every step), against
   PyTorch eager on the GPU (batch already on the device, and copied in each step).

A peer that is not installed is a line saying so. Medians of repeated blocks after warm-up.

    python benchmarks/gpu_bench.py [--sizes 1024,2048,4096] [--skip-mlp]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

MLPS = [("784-512-512-10, batch 256", (784, 512, 512, 10), 256),
        ("64-128-10, batch 64", (64, 128, 10), 64),
        ("4096-4096-4096-10, batch 512", (4096, 4096, 4096, 10), 512)]


def median_seconds(fn, seconds=1.0, blocks=7) -> float:
    fn()
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 0.2 or n < 3:
        fn()
        n += 1
    k = max(1, int(seconds / blocks / ((time.perf_counter() - t0) / n)))
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        times.append((time.perf_counter() - t0) / k)
    return statistics.median(times)


def peer(name):
    try:
        return __import__(name)
    except Exception as e:  # not installed, or no GPU build
        print(f"  ({name} not available: {type(e).__name__}: {str(e)[:80]})")
        return None


# ---- matmul ------------------------------------------------------------------------------
def graphc_matmul(n: int):
    import graphc as gc
    a, b = gc.tensor("a", (n, n)), gc.tensor("b", (n, n))
    f = gc.compile(a @ b, backend="cuda")
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    got = f(a=A, b=B)  # compiles; checked against NumPy once
    err = np.abs(got - A @ B).max() / np.abs(A @ B).max()
    arrays, dims = f.spec.bind((), {"a": A, "b": B})
    (seconds,) = f.impl.profile(arrays, dims, repeat=10).values()
    frame = f.impl._frames[()]
    kernel = f.impl.program.kernels[0].name
    variant = f.impl._functions[kernel].index(frame.steps[0][0])
    tiles = f.impl.module_source.kernels[kernel].variants[variant]
    return 2 * n ** 3 / seconds / 1e12, err, tiles


def torch_matmul(torch, n: int) -> float:
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    for _ in range(3):
        torch.mm(a, b)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    reps = 20
    start.record()
    for _ in range(reps):
        torch.mm(a, b)
    end.record()
    torch.cuda.synchronize()
    return 2 * n ** 3 / (start.elapsed_time(end) / 1e3 / reps) / 1e12


def cupy_matmul(cp, n: int) -> float:
    a = cp.random.standard_normal((n, n), dtype=cp.float32)
    b = cp.random.standard_normal((n, n), dtype=cp.float32)
    for _ in range(3):
        cp.matmul(a, b)
    start, end = cp.cuda.Event(), cp.cuda.Event()
    reps = 20
    start.record()
    for _ in range(reps):
        cp.matmul(a, b)
    end.record()
    end.synchronize()
    return 2 * n ** 3 / (cp.cuda.get_elapsed_time(start, end) / 1e3 / reps) / 1e12


def matmuls(sizes):
    print("\n== matmul, float32, square: TFLOP/s (kernel time, CUDA events) ==")
    torch = peer("torch")
    torch = torch if torch is not None and torch.cuda.is_available() else None
    cp = peer("cupy")
    print(f"  {'n':>5} {'graphc':>8} {'cuBLAS':>8} {'ratio':>6}  graphc tiles; max rel. error")
    for n in sizes:
        ours, err, tiles = graphc_matmul(n)
        theirs, via = None, ""
        if cp is not None:
            theirs, via = cupy_matmul(cp, n), "CuPy"
        elif torch is not None:
            theirs, via = torch_matmul(torch, n), "PyTorch"
        ratio = f"{ours / theirs:6.2f}" if theirs else "     -"
        cublas = f"{theirs:8.2f}" if theirs else "       -"
        print(f"  {n:>5} {ours:8.2f} {cublas} {ratio}  {tiles}; {err:.1e}"
              + (f"  (cuBLAS via {via})" if via else ""))
    print("  target: the generated kernel at 4096 at least 0.5x cuBLAS fp32")


# ---- MLP training step --------------------------------------------------------------------
def data(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return X, y


def graphc_mlp(sizes, batch):
    import graphc as gc
    gc.nn.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(gc.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(gc.nn.ReLU())
    model = gc.nn.Sequential(*layers)
    x, y = gc.tensor("x", ("B", sizes[0])), gc.tensor("y", ("B",), dtype="int64")
    t0 = time.perf_counter()
    step = gc.train_step(gc.cross_entropy(model(x), y), gc.optim.SGD(model.parameters(),
                                                                     lr=0.01),
                         backend="cuda")
    X, Y = data(sizes, batch)
    first = step(x=X, y=Y)
    build = time.perf_counter() - t0
    return median_seconds(lambda: step(x=X, y=Y)), build, first


def torch_mlp(torch, sizes, batch, copy_in: bool):
    nn, F = torch.nn, torch.nn.functional
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    X, Y = data(sizes, batch)
    Xh, Yh = torch.from_numpy(X), torch.from_numpy(Y)
    Xd, Yd = Xh.cuda(), Yh.cuda()

    def step():
        xb, yb = (Xh.cuda(), Yh.cuda()) if copy_in else (Xd, Yd)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()
    return median_seconds(step)


def mlps():
    print("\n== MLP training step (SGD), float32: ms per step ==")
    torch = peer("torch")
    torch = torch if torch is not None and torch.cuda.is_available() else None
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
    print(f"  {'model':30s} {'graphc':>8} {'torch':>8} {'torch+copy':>10} {'ratio':>6}  "
          f"graphc first step (compile)")
    for label, sizes, batch in MLPS:
        ours, build, _ = graphc_mlp(sizes, batch)
        if torch is not None:
            theirs = torch_mlp(torch, sizes, batch, copy_in=False)
            copied = torch_mlp(torch, sizes, batch, copy_in=True)
            cols = f"{theirs * 1e3:8.3f} {copied * 1e3:10.3f} {theirs / ours:6.2f}"
        else:
            cols = f"{'-':>8} {'-':>10} {'-':>6}"
        print(f"  {label:30s} {ours * 1e3:8.3f} {cols}  {build:.1f} s")
    print("  graphc copies the batch in and the loss out every step; ratio = torch (batch on "
          "the device) / graphc, above 1 is graphc faster")
    print("  target: faster than PyTorch eager for the small MLP")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,2048,4096")
    ap.add_argument("--skip-mlp", action="store_true")
    args = ap.parse_args()
    from graphc.backend.cuda.target import current
    print(f"device: {current().name}, {current().sms} SMs")
    matmuls([int(n) for n in args.sizes.split(",")])
    if not args.skip_mlp:
        mlps()


if __name__ == "__main__":
    main()
