"""Handwritten digits with a small convolutional network: gc.nn.Conv2d, MaxPool2d, Flatten.

conv(1->16, 3x3) -> relu -> max-pool 2 -> conv(16->32, 3x3) -> relu -> max-pool 2 -> linear,
on scikit-learn's 8x8 digits (1,797 images, a stratified 80/20 split). Each convolution is
one contraction over a sliding-window view of its (zero-padded) input,

    y[n, o, h, w] = sum over c, i, j of x[n, c, h + i, w + j] * weight[o, c, i, j] + bias[o]
                  = einsum("nchwij,ocij->nohw", windows(pad(x)), weight) + bias,

so the optimizer fuses its bias and relu into it, as it does for a Linear layer's matmul.
The whole training step (forward, loss, backward, Adam) is one compiled graph.

    python examples/cnn_digits.py                        # 20 epochs, well under a minute
    python examples/cnn_digits.py --epochs 2 --backend reference

Writes to out/cnn_digits/: loss_curve.png, train_graph.dot/.svg (forward + backward),
conv_graph.dot/.svg (one conv -> relu -> pool, forward and backward) and checkpoint.npz.
"""
from __future__ import annotations

import os
import sys
import time

# The matrices here are small (at most 32 x 144): BLAS threads cost more in start-up and
# contention than they save, above all on a busy machine. Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import graphc as gc  # noqa: E402
from _common import (Progress, example_parser, out_dir, parse_example_args,  # noqa: E402
                     save_graph, save_loss_curve)

TARGET_ACCURACY = 0.98  # what the full run must reach on the held-out test set


def load_data(seed: int):
    """Images as (N, 1, 8, 8) in [-1, 1] (the ink scale 0..16, centered), integer labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    X = (digits.images.astype(np.float32) / 8.0 - 1.0)[:, None]   # one input channel
    y = digits.target.astype(np.int64)
    return train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)


class CNN(gc.nn.Module):
    """Two conv -> relu -> pool stages, then a linear classifier over the 32 x 2 x 2 maps."""

    def __init__(self):
        super().__init__()
        self.conv1 = gc.nn.Conv2d(1, 16, 3, padding=1)    # (B, 1, 8, 8) -> (B, 16, 8, 8)
        self.conv2 = gc.nn.Conv2d(16, 32, 3, padding=1)   # (B, 16, 4, 4) -> (B, 32, 4, 4)
        self.pool = gc.nn.MaxPool2d(2)                     # halves height and width
        self.flatten = gc.nn.Flatten()                     # (B, 32, 2, 2) -> (B, 128)
        self.drop = gc.nn.Dropout(0.25)                    # in training only (train/eval)
        self.fc = gc.nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        x = self.pool(gc.relu(self.conv1(x)))
        x = self.pool(gc.relu(self.conv2(x)))
        return self.fc(self.drop(self.flatten(x)))


def parse_args(argv=None):
    p = example_parser(__doc__)
    p.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    return parse_example_args(p, argv, positive=("epochs",))


def main(argv=None) -> int:
    args = parse_args(argv)
    X_train, X_test, y_train, y_test = load_data(args.seed)
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 1x8x8 pixels, "
          f"10 classes")

    gc.nn.manual_seed(args.seed)
    model = CNN()
    print(f"model ({model.num_parameters():,} parameters):\n{model}")
    x = gc.tensor("x", ("B", 1, 8, 8))                   # B: any batch size
    y = gc.tensor("y", ("B",), dtype="int64")
    loss = gc.nn.CrossEntropyLoss()(model(x), y)       # training mode: with dropout
    logits = model.eval()(x)                           # evaluation mode: without
    model.train()
    optimizer = gc.optim.Adam(model.parameters(), lr=args.lr)

    t0 = time.perf_counter()
    step = gc.train_step(loss, optimizer, backend=args.backend)
    predict = gc.nn.function(logits, backend=args.backend)
    kernels = [n for n in step.graph.nodes() if n.op == "fused_contraction"
               and n.origin == "forward" and n.attrs["fused"][0] == "einsum"]
    print(f"train step: one graph of {len(step.compiled.raw_graph)} nodes, {len(step.graph)} "
          f"after optimization; each forward convolution is one kernel "
          f"({', '.join('+'.join(n.attrs['fused']) for n in kernels)}); compiled for backend "
          f"{args.backend!r} in {time.perf_counter() - t0:.2f} s")

    rng = np.random.default_rng(args.seed)
    per_epoch = -(-len(X_train) // args.batch)
    bar = Progress(args.epochs * per_epoch)
    losses, step_times, accuracy = [], [], "-"
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        # the learning rate is a graph input: a cosine decay needs no recompilation
        optimizer.lr = args.lr * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / args.epochs))
        order = rng.permutation(len(X_train))
        for first in range(0, len(order), args.batch):
            batch = order[first:first + args.batch]
            t0 = time.perf_counter()
            losses.append(step(x=X_train[batch], y=y_train[batch]))
            step_times.append(time.perf_counter() - t0)
            if first + args.batch >= len(order):  # the epoch's last batch: evaluate
                accuracy = f"{(predict(x=X_test).argmax(1) == y_test).mean():.1%}"
            bar.update(len(losses), losses[-1], epoch=f"{epoch}/{args.epochs}",
                       test_acc=accuracy)
    took = time.perf_counter() - start

    predicted = predict(x=X_test).argmax(1)
    correct = int((predicted == y_test).sum())
    print(f"step time: {1e3 * np.median(step_times):.2f} ms median over {len(step_times)} "
          f"steps (batch {args.batch}, backend {args.backend}); training took {took:.1f} s")
    print(f"final loss {np.mean(losses[-per_epoch:]):.4f} (mean of the last epoch)")
    print(f"test accuracy: {correct / len(y_test):.2%} ({correct}/{len(y_test)} held-out "
          f"images)")
    wrong = np.flatnonzero(predicted != y_test)[:8]
    print("misread: " + (", ".join(f"a {y_test[i]} as {predicted[i]}" for i in wrong) or "none"))

    out = out_dir("cnn_digits")
    curve = save_loss_curve(losses, os.path.join(out, "loss_curve.png"),
                            title="cnn_digits: cross-entropy per step")
    graph = save_graph([loss, *step.grads], os.path.join(out, "train_graph"),
                       title="CNN: forward (blue) and backward (orange)")
    # one stage on its own: conv -> relu -> pool and its gradients, small enough to read
    stage = gc.sum(model.pool(gc.relu(model.conv1(x))))
    conv = save_graph([stage, *gc.grad(stage, [model.conv1.weight.node, model.conv1.bias.node])],
                      os.path.join(out, "conv_graph"),
                      title="conv -> relu -> max-pool: forward (blue) and backward (orange)")
    checkpoint = gc.save(os.path.join(out, "checkpoint.npz"), model, optimizer)
    for path in [curve, *graph, *conv, checkpoint]:
        if path:
            print(f"wrote {os.path.relpath(path)}")
    if args.epochs >= 20 and correct / len(y_test) < TARGET_ACCURACY:
        print(f"test accuracy is below the {TARGET_ACCURACY:.0%} target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
