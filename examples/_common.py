"""What the examples share: a progress bar with the loss, a loss-curve PNG, graph drawings.

Outputs go to `out/<example>/` (override with GRAPHC_OUT). Kept here, not in graphc: they
are conveniences of the examples, not of the compiler.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import graphc as gc
from graphc.compile import available_backends


def example_parser(doc: str) -> argparse.ArgumentParser:
    """The options every example takes (--backend, --seed); each example adds its own."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--backend", default=os.environ.get("GRAPHC_BACKEND", "reference"),
                   help="where the compiled graph runs (default: $GRAPHC_BACKEND or reference)")
    p.add_argument("--seed", type=int, default=0)
    return p


def parse_example_args(parser: argparse.ArgumentParser, argv=None, positive=()):
    """Parse, refusing a backend this machine lacks and any option in `positive` below 1."""
    args = parser.parse_args(argv)
    if args.backend not in available_backends():
        parser.error(f"backend {args.backend!r} is not available here; available backends: "
                     f"{', '.join(available_backends())}")
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def out_dir(example: str) -> str:
    root = os.environ.get("GRAPHC_OUT", os.path.join(os.path.dirname(__file__), "..", "out"))
    path = os.path.abspath(os.path.join(root, example))
    os.makedirs(path, exist_ok=True)
    return path


class Progress:
    """A one-line progress bar: `[#####.....] 50/100 loss 0.4211 12.3 ms/step`."""

    def __init__(self, total: int, width: int = 30, stream=None):
        # sys.stdout is looked up now, not at import: a test harness may have replaced it
        self.total, self.width, self.stream = total, width, stream or sys.stdout
        self.start = time.perf_counter()
        self.tty = self.stream.isatty()
        self.last_print = 0.0

    def update(self, step: int, loss: float, **extra) -> None:
        now = time.perf_counter()
        done = step == self.total
        if not done and now - self.last_print < (0.1 if self.tty else 2.0):
            return
        self.last_print = now
        filled = int(self.width * step / self.total)
        ms = 1e3 * (now - self.start) / max(step, 1)
        more = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in extra.items())
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {step}/{self.total} "
                f"loss {loss:.4f} {ms:.2f} ms/step {more}").rstrip()
        end = "\n" if done or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def save_loss_curve(losses, path: str, title: str = "training loss") -> str | None:
    """Write the loss curve as a PNG (needs matplotlib: `pip install -e .[examples]`)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib is not installed: no loss curve written to {path})")
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(range(1, len(losses) + 1), losses, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_graph(outputs, path_without_ext: str, title: str | None = None) -> list[str]:
    """Write the graph as .dot, and as .svg where Graphviz's `dot` is installed."""
    try:
        return gc.render(outputs, path_without_ext + ".svg", title=title)
    except RuntimeError:
        return gc.render(outputs, path_without_ext + ".dot", title=title)
