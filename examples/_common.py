"""What the examples share: a progress bar with the loss, a loss-curve PNG, graph drawings.

Outputs go to `out/<example>/` (override with GRAPHC_OUT). Kept here, not in graphc: they
are conveniences of the examples, not of the compiler.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import graphc as gc
from graphc.compile import available_backends, default_backend


def example_parser(doc: str) -> argparse.ArgumentParser:
    """The options every example takes (--backend, --seed); each example adds its own."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--backend", default=default_backend(),
                   help="where the compiled graph runs (default: $GRAPHC_BACKEND or cpu)")
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
    """A one-line progress bar: `[#####.....] 50/100 loss 0.4211 12.3 ms/step`.

    Pass each step's own duration (`step_time=`, seconds) and the ms/step shown is their
    median, the number the example's summary prints at the end; without it, wall time per
    step (which then also counts evaluation and printing)."""

    def __init__(self, total: int, width: int = 30, stream=None):
        # sys.stdout is looked up now, not at import: a test harness may have replaced it
        self.total, self.width, self.stream = total, width, stream or sys.stdout
        self.start = time.perf_counter()
        self.tty = self.stream.isatty()
        self.last_print = 0.0
        self.step_times: list[float] = []

    def update(self, step: int, loss: float, step_time: float | None = None, **extra) -> None:
        if step_time is not None:
            self.step_times.append(step_time)
        now = time.perf_counter()
        done = step == self.total
        if not done and now - self.last_print < (0.1 if self.tty else 2.0):
            return
        self.last_print = now
        filled = int(self.width * step / self.total)
        ms = 1e3 * (statistics.median(self.step_times) if self.step_times
                    else (now - self.start) / max(step, 1))
        more = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in extra.items())
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {step}/{self.total} "
                f"loss {loss:.4f} {format_ms(ms)} ms/step {more}").rstrip()
        end = "\n" if done or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def format_ms(ms: float) -> str:
    """Milliseconds as the progress bar and the summaries print them: 3 significant digits."""
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def save_loss_curve(losses, path: str, title: str = "training loss", log: bool = False,
                    reference: float | None = None, reference_label: str = "") -> str | None:
    """Write the loss curve as a PNG. `log` draws the loss on a log scale (a loss falling by
    orders of magnitude); `reference` draws a dashed horizontal line to compare against (the
    unigram entropy a language model must beat, the noise floor a regression cannot beat)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(range(1, len(losses) + 1), losses, lw=1.2, label="loss per step")
    if reference is not None:
        ax.axhline(reference, color="#c05621", ls="--", lw=1.2,
                   label=reference_label or f"reference {reference:.3g}")
        ax.legend(loc="upper right", fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss" + (" (log scale)" if log else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both" if log else "major")
    fig.tight_layout()
    fig.savefig(path)
    return path


def save_graph(outputs, path_without_ext: str, title: str | None = None, **options) -> list[str]:
    """Write the graph as .svg (drawn by Graphviz where installed, else by graphc) and .dot."""
    return gc.render(outputs, path_without_ext + ".svg", title=title, **options)
