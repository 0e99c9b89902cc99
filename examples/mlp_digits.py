"""Handwritten digits with a 64-128-10 MLP: gc.nn, gc.optim and gc.train_step.

The PyTorch idiom (a Module, a loss, an optimizer, a loop over batches), except that the
whole training step (forward, loss, backward graph from gc.grad, SGD update) is ONE graph,
compiled once and called per batch. The data is scikit-learn's 8x8 digits (1,797 images,
shipped with the package): a stratified 80/20 train/test split, features standardized with
the training set's statistics.

    python examples/mlp_digits.py                        # 30 epochs, about a second of training
    python examples/mlp_digits.py --epochs 2 --backend reference

Writes to out/mlp_digits/: loss_curve.png, train_graph.svg/.dot (forward + backward) and
checkpoint.npz.

    graphc dot examples/mlp_digits.py:training_graph -o mlp.svg    # the graph it trains
    graphc cost examples/mlp_digits.py:training_graph --dims B=64
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import graphc as gc
from _common import (Progress, example_parser, format_ms, out_dir, parse_example_args, save_graph,
                     save_loss_curve)

TARGET_ACCURACY = 0.97  # what the full run must reach on the held-out test set
SHADES = " .:-=+*#%@"   # 0..16 ink -> characters, for the sample predictions


def load_data(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    X, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test, _, raw_test = train_test_split(
        X, y, digits.data, test_size=0.2, random_state=seed, stratify=y)
    mean, scale = X_train.mean(0), X_train.std(0) + 1.0  # +1: some border pixels never ink
    return (X_train - mean) / scale, y_train, (X_test - mean) / scale, y_test, raw_test


class MLP(gc.nn.Module):
    """64 -> 128 -> ReLU -> 10; each layer is Y = XW + b, as in the lecture."""

    def __init__(self):
        super().__init__()
        self.fc1 = gc.nn.Linear(64, 128)   # registered as "fc1": its weight is fc1.weight
        self.fc2 = gc.nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(gc.relu(self.fc1(x)))


def training_graph():
    """[loss, d loss / d each parameter] of a fresh MLP on a symbolic batch B: the graph
    `graphc dot / cost / explain examples/mlp_digits.py:training_graph` show."""
    model = MLP()
    x = gc.tensor("x", ("B", 64))
    y = gc.tensor("y", ("B",), dtype="int64")
    loss = gc.nn.CrossEntropyLoss()(model(x), y)
    return [loss, *gc.grad(loss, model.parameters())]


def parse_args(argv=None):
    p = example_parser(__doc__)
    p.add_argument("--epochs", type=int, default=30, help="passes over the training set")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    args = parse_example_args(p, argv, positive=("epochs",))
    return args


def show_samples(raw, labels, predicted, count=6):
    """A row of test digits drawn in characters with the model's answers: the first few,
    then (if there are any) a couple it got wrong."""
    wrong = [int(i) for i in np.flatnonzero(predicted != labels)[:2]]
    chosen = [i for i in range(count) if i not in wrong][:count - len(wrong)] + wrong
    rows = ["   ".join("".join(SHADES[int(v) * (len(SHADES) - 1) // 16] * 2
                               for v in raw[i].reshape(8, 8)[r]) for i in chosen)
            for r in range(8)]
    marks = "   ".join(f"{'ok' if predicted[i] == labels[i] else 'XX'} {predicted[i]} "
                       f"(is {labels[i]})".ljust(16) for i in chosen)
    print("some test images and the model's answers:")
    print("\n".join("  " + r for r in rows) + "\n  " + marks)


def main(argv=None) -> int:
    args = parse_args(argv)
    X_train, y_train, X_test, y_test, raw_test = load_data(args.seed)
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 = 64 pixels,"
          f" 10 classes")

    gc.nn.manual_seed(args.seed)                       # reproducible initial weights
    model = MLP()
    print(f"model ({model.num_parameters():,} parameters):\n{model}")

    x = gc.tensor("x", ("B", 64))                      # B: any batch size
    y = gc.tensor("y", ("B",), dtype="int64")
    logits = model(x)
    loss = gc.nn.CrossEntropyLoss()(logits, y)
    optimizer = gc.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)

    t0 = time.perf_counter()
    step = gc.train_step(loss, optimizer, backend=args.backend)  # compiled once, here
    predict = gc.nn.function(logits, backend=args.backend)
    print(f"train step: forward + backward + SGD update in one graph of "
          f"{len(step.compiled.raw_graph)} nodes, {len(step.graph)} after optimization; "
          f"compiled for backend {args.backend!r} in {time.perf_counter() - t0:.2f} s")

    rng = np.random.default_rng(args.seed)
    per_epoch = -(-len(X_train) // args.batch)
    bar = Progress(args.epochs * per_epoch)
    losses, step_times, accuracy = [], [], "-"
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(X_train))
        for start in range(0, len(order), args.batch):
            batch = order[start:start + args.batch]
            t0 = time.perf_counter()
            losses.append(step(x=X_train[batch], y=y_train[batch]))
            step_times.append(time.perf_counter() - t0)
            if start + args.batch >= len(order):  # the epoch's last batch: evaluate
                accuracy = f"{(predict(x=X_test).argmax(1) == y_test).mean():.1%}"
            bar.update(len(losses), losses[-1], step_time=step_times[-1],
                       epoch=f"{epoch}/{args.epochs}", test_acc=accuracy)

    predicted = predict(x=X_test).argmax(1)
    correct = int((predicted == y_test).sum())
    train_acc = float((predict(x=X_train).argmax(1) == y_train).mean())
    print(f"step time: {format_ms(1e3 * np.median(step_times))} ms median over {len(step_times)} "
          f"steps (batch {args.batch}, backend {args.backend}); "
          f"training took {sum(step_times):.1f} s")
    print(f"final loss {np.mean(losses[-per_epoch:]):.4f} (mean of the last epoch); "
          f"train accuracy {train_acc:.2%}")
    print(f"test accuracy: {correct / len(y_test):.2%} ({correct}/{len(y_test)} held-out "
          f"images)")
    show_samples(raw_test, y_test, predicted)

    out = out_dir("mlp_digits")
    curve = save_loss_curve(losses, os.path.join(out, "loss_curve.png"),
                            title="mlp_digits: cross-entropy per step", log=True)
    graph = save_graph([loss, *step.grads], os.path.join(out, "train_graph"),
                       title="MLP 64-128-10: forward (blue) and backward (orange)")
    checkpoint = gc.save(os.path.join(out, "checkpoint.npz"), model, optimizer)
    for path in [curve, *graph, checkpoint]:
        if path:
            print(f"wrote {os.path.relpath(path)}")
    if args.epochs >= 30 and correct / len(y_test) < TARGET_ACCURACY:
        print(f"test accuracy is below the {TARGET_ACCURACY:.0%} target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
