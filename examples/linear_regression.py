"""Linear regression Y = XW + b, trained by a plain SGD loop on compiled gradients.

This is the loop gc.train_step automates, written out: build the loss, ask gc.grad for the
backward graph, compile forward + backward once, then per batch call it and update W and b
with NumPy. The data are synthetic (a known W_true, b_true and Gaussian noise), so at the end
we can check that training recovered W_true.

    python examples/linear_regression.py                 # 300 steps on the reference backend
    python examples/linear_regression.py --steps 50 --backend reference
    graphc dot examples/linear_regression.py:training_graph -o linreg.svg
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import graphc as gc
from _common import (Progress, example_parser, format_ms, out_dir, parse_example_args, save_graph,
                     save_loss_curve)

IN_FEATURES, OUT_FEATURES = 8, 3   # d and e of the lecture: X is (b, d), W is (d, e)
TOLERANCE = 0.05                   # max |W - W_true| that counts as "recovered"


def training_graph():
    """[loss, dloss/dW, dloss/db] for a batch of symbolic size B: the graph the loop runs."""
    X = gc.tensor("X", ("B", IN_FEATURES))
    Y = gc.tensor("Y", ("B", OUT_FEATURES))
    W = gc.tensor("W", (IN_FEATURES, OUT_FEATURES))
    b = gc.tensor("b", (OUT_FEATURES,))
    loss = gc.mse_loss(X @ W + b, Y)
    gW, gb = gc.grad(loss, [W, b])
    return [loss, gW, gb]


def synthetic_data(n: int, noise: float, rng):
    """X ~ N(0, 1); Y = X W_true + b_true + noise."""
    W_true = rng.standard_normal((IN_FEATURES, OUT_FEATURES)).astype(np.float32)
    b_true = rng.standard_normal(OUT_FEATURES).astype(np.float32)
    X = rng.standard_normal((n, IN_FEATURES)).astype(np.float32)
    Y = X @ W_true + b_true + noise * rng.standard_normal((n, OUT_FEATURES)).astype(np.float32)
    return X, Y, W_true, b_true


def parse_args(argv=None):
    p = example_parser(__doc__)
    p.add_argument("--steps", type=int, default=300, help="SGD steps (default 300)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--noise", type=float, default=0.1)
    args = parse_example_args(p, argv)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    X, Y, W_true, b_true = synthetic_data(args.samples, args.noise, rng)

    graph = training_graph()
    step_fn = gc.compile(graph, backend=args.backend)
    print(f"compiled forward + backward: {len(step_fn.raw_graph)} nodes -> "
          f"{len(step_fn.graph)} after optimization, backend {step_fn.backend}, "
          f"inputs {step_fn.input_names}")
    cost = step_fn.cost()
    flops_at_batch, _ = cost.evaluate({"B": args.batch})
    print(f"one step costs {cost.flops} FLOPs for a batch of B rows: {flops_at_batch:.0f} at "
          f"B = {args.batch}")

    W = np.zeros((IN_FEATURES, OUT_FEATURES), np.float32)   # the parameters live in NumPy
    b = np.zeros(OUT_FEATURES, np.float32)
    losses, step_times, bar = [], [], Progress(args.steps)
    for step in range(1, args.steps + 1):
        idx = rng.integers(0, args.samples, args.batch)
        t0 = time.perf_counter()
        loss, gW, gb = step_fn(X=X[idx], Y=Y[idx], W=W, b=b)   # forward + backward
        step_times.append(time.perf_counter() - t0)
        W -= args.lr * gW                                        # theta = theta - lr * grad
        b -= args.lr * gb
        losses.append(float(loss))
        bar.update(step, float(loss), step_time=step_times[-1])
    print(f"step time: {format_ms(1e3 * np.median(step_times))} ms median over "
          f"{len(step_times)} steps (batch {args.batch}, backend {step_fn.backend})")

    folder = out_dir("linear_regression")
    # the loss falls by orders of magnitude, to the noise: what no model of the data can beat
    curve = save_loss_curve(losses, os.path.join(folder, "loss.png"), "linear regression: MSE",
                            log=True, reference=args.noise ** 2,
                            reference_label=f"noise floor {args.noise ** 2:.3g}")
    drawn = save_graph(graph, os.path.join(folder, "graph"), "MSE loss of XW + b and its gradients")
    full_loss = step_fn(X=X, Y=Y, W=W, b=b)[0]
    print(f"loss: first step {losses[0]:.4f}, last step {losses[-1]:.4f}, "
          f"on all {args.samples} samples {float(full_loss):.4f} "
          f"(noise floor {args.noise ** 2:.4f})")
    print("wrote " + ", ".join(p for p in [curve, *drawn] if p))

    w_err = float(np.max(np.abs(W - W_true)))
    b_err = float(np.max(np.abs(b - b_true)))
    print(f"max |W - W_true| = {w_err:.4f}, max |b - b_true| = {b_err:.4f}")
    if w_err < TOLERANCE and b_err < TOLERANCE:
        print(f"OK: recovered the true W and b (tolerance {TOLERANCE})")
        return 0
    print(f"FAILED: W is not within {TOLERANCE} of the true W after {args.steps} steps "
          f"(try more --steps or a larger --lr)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
