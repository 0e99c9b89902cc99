"""Redraw the pictures the README and docs/tutorial.md show: `make pictures`.

Graphs are drawn by graphc's built-in layout (engine="builtin"), so the committed pictures
are the same whether or not Graphviz is installed; the loss curves come from full runs of the
examples (about a minute in all on 2 cores).

    python docs/pictures/make_pictures.py [--skip-training] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "examples"))

import graphc as gc  # noqa: E402


def readme_graphs() -> list[str]:
    """The README's example: forward + backward as built, then what the optimizer makes."""
    x = gc.tensor("x", ("B", 784))
    y = gc.tensor("y", ("B",), dtype="int64")
    W, b = gc.tensor("W", (784, 10)), gc.tensor("b", (10,))
    loss = gc.cross_entropy(x @ W + b, y)
    outputs = [loss, *gc.grad(loss, [W, b])]
    f = gc.compile(outputs)
    kernels = sum("fused" in n.attrs for n in f.graph.nodes())
    return [
        *draw(outputs, "forward_backward.svg",
              "loss = cross_entropy(x @ W + b, y) and its gradients", stage="raw"),
        *draw(f, "fused.svg", f"the same graph compiled: {len(f.raw_graph)} nodes -> "
                              f"{len(f.graph)}, {kernels} of them fused kernels"),
    ]


def transformer_graphs() -> list[str]:
    """The tiny transformer's training step, a box per module, and one block open."""
    from tiny_transformer import CharTransformer
    gc.nn.manual_seed(0)
    model = CharTransformer(vocab=40, context=32, dim=64, heads=4, layers=2)
    ids = gc.tensor("ids", ("B", 32), dtype="int64")
    targets = gc.tensor("targets", ("B", 32), dtype="int64")
    loss = gc.nn.CrossEntropyLoss()(model(ids), targets)
    grads = gc.grad(loss, model.parameters())
    return [*draw([loss, *grads], "transformer_step.png",
                  "a 2-block transformer's training step: a box per module (collapse=1)",
                  collapse=1)]


OUT = HERE  # where the pictures go (--out changes it)


def draw(outputs, name: str, title: str, **options) -> list[str]:
    path = os.path.join(OUT, name)
    written = gc.render(outputs, path, title=title, engine="builtin", **options)
    os.remove(written[0])  # the .dot text is not shown in the docs
    return [path]


def loss_curves() -> list[str]:
    """Run the examples in full and keep their loss curves."""
    made = []
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, GRAPHC_OUT=out, MPLBACKEND="Agg")
        for example, curve, name in (("linear_regression", "loss.png", "linear_regression_loss"),
                                     ("tiny_transformer", "loss_curve.png", "transformer_loss")):
            subprocess.run([sys.executable, os.path.join(REPO, "examples", example + ".py")],
                           cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
            target = os.path.join(OUT, name + ".png")
            shutil.copyfile(os.path.join(out, example, curve), target)
            made.append(target)
    return made


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skip-training", action="store_true", help="redraw the graphs only")
    p.add_argument("--out", default=HERE, help="the folder to write to (default: docs/pictures)")
    args = p.parse_args(argv)
    global OUT
    OUT = args.out
    os.makedirs(OUT, exist_ok=True)
    made = readme_graphs() + transformer_graphs()
    if not args.skip_training:
        made += loss_curves()
    for path in made:
        print(f"wrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
