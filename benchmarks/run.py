#!/usr/bin/env python
"""graphc's benchmarks in one table: every number measured in this run, with ratios
against the peers (NumPy, torch, torch.compile, jax.jit) measured in the same run.

    python benchmarks/run.py                      # everything (a few minutes on 2 cores)
    python benchmarks/run.py --quick              # short repeats (about a minute)
    python benchmarks/run.py --only matmul --sizes 256,512
    python benchmarks/run.py --skip latency --markdown
    graphc bench [the same options]

Blocks: matmul (GFLOP/s of float32 n x n products), mlp (ms per SGD step of two MLPs),
transformer (ms per Adam step of examples/tiny_transformer.py's model), latency (seconds
to the first training step in a fresh process, cold and warm compile cache).
Each number is the median over timed blocks after a warm-up; blocks during which other
processes were busy are re-run (within a budget) or the number is marked noisy. It is a
measurement, not a test: nothing here passes or fails on speed. See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before anything imports jax: no GPU probing
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # peers.py, bench_train_step.py and graphc_bench/

from graphc_bench import latency, machine, matmul, mlp, transformer  # noqa: E402
from graphc_bench.protocol import Protocol, Settings  # noqa: E402
from graphc_bench.table import Row, failure, render_markdown, render_text  # noqa: E402

BLOCKS = {"matmul": matmul.rows, "mlp": mlp.rows, "transformer": transformer.rows,
          "latency": latency.rows}
# --quick: the same rows, shorter repeats (each can still be set by its own option)
# (n=2048 is left out: its ten seconds of products alone would be a sixth of the minute)
QUICK = dict(blocks=3, block_s=0.05, warmup_s=0.1, wait_budget_s=10.0, latency_repeats=1,
             sizes=[256, 512, 1024])
FULL = dict(blocks=7, block_s=0.2, warmup_s=0.3, wait_budget_s=60.0, latency_repeats=3,
            sizes=list(matmul.SIZES))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="blocks: " + ", ".join(BLOCKS))
    p.add_argument("--quick", action="store_true", help="short repeats: " + ", ".join(
        f"{k}={v}" for k, v in QUICK.items()))
    p.add_argument("--only", type=_names, default=[], metavar="BLOCKS",
                   help="comma-separated blocks to run (default: all)")
    p.add_argument("--skip", type=_names, default=[], metavar="BLOCKS",
                   help="comma-separated blocks not to run")
    p.add_argument("--blocks", type=int, metavar="N",
                   help="timed blocks per number (default 7, quick 3)")
    p.add_argument("--block-s", type=float, metavar="SECONDS",
                   help="seconds per timed block (default 0.2, quick 0.05)")
    p.add_argument("--quiet", type=float, default=0.15, metavar="CORES",
                   help="most CPU (cores) other processes may use during a kept block "
                        "(default 0.15)")
    p.add_argument("--wait-budget", type=float, dest="wait_budget_s", metavar="SECONDS",
                   help="seconds the whole run may spend waiting for quiet and re-running "
                        "noisy blocks (default 60, quick 10)")
    p.add_argument("--sizes", type=_ints, metavar="N,...",
                   help="matmul sizes (default " + ",".join(map(str, matmul.SIZES)) + "; quick "
                        "leaves out 2048)")
    p.add_argument("--mlp-configs", type=_names, default=list(mlp.CONFIGS), metavar="NAMES",
                   help="mlp configs: " + ", ".join(f"{k} = {'-'.join(map(str, s))} batch "
                                                    f"{b}" for k, (s, b) in mlp.CONFIGS.items()))
    p.add_argument("--latency-repeats", type=int, metavar="N",
                   help="fresh processes per latency number (default 3, quick 1; the cold one "
                        "runs once)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = p.parse_args(argv)
    for name in args.only + args.skip:
        if name not in BLOCKS:
            p.error(f"unknown block {name!r}; the blocks are {', '.join(BLOCKS)}")
    for name in args.mlp_configs:
        if name not in mlp.CONFIGS:
            p.error(f"unknown mlp config {name!r}; they are {', '.join(mlp.CONFIGS)}")
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.blocks < 1 or args.latency_repeats < 1 or not args.sizes or min(args.sizes) < 1:
        p.error("--blocks, --latency-repeats and each of --sizes must be at least 1")
    if args.block_s <= 0:
        p.error("--block-s must be positive")
    return args


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 256,512, got {text!r}")


def run_blocks(args, protocol) -> tuple[list[Row], list[str]]:
    rows, footnotes = [], []
    for name, block in BLOCKS.items():
        if (args.only and name not in args.only) or name in args.skip:
            continue
        start = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            rows += block(protocol, args, footnotes)
        except Exception as e:  # one broken block must not cost the others' numbers
            traceback.print_exc(file=sys.stderr)
            rows.append(Row(name, "-", "-", note=failure(e)))
        print(f"[bench] {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr,
              flush=True)
    return rows, footnotes


def legend(args) -> list[str]:
    return [
        "time: median per call (per step) over the kept blocks, after a warm-up; for "
        "compile latency, seconds of one fresh process (median over the repeats)",
        "GFLOP/s: for a training step, of its matmuls only",
        "vs X: X's time / this row's time, same case, this run (above 1: faster than X)",
        f"quiet blocks: blocks kept because other processes used under {args.quiet} cores / "
        f"blocks wanted; 'noisy': fewer were quiet, so the number is less trustworthy",
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = Settings(blocks=args.blocks, block_s=args.block_s, warmup_s=args.warmup_s,
                        quiet=args.quiet, wait_budget_s=args.wait_budget_s)
    start = time.perf_counter()
    header = machine.describe()
    rows, footnotes = run_blocks(args, Protocol(settings))
    header.append(f"run: {settings.blocks} blocks of ~{settings.block_s} s per number"
                  f"{' (--quick)' if args.quick else ''}, {time.perf_counter() - start:.0f} s "
                  f"in all")
    bullet = "- " if args.markdown else ""  # Markdown would run the lines together
    print("\n".join(bullet + line for line in header), end="\n\n")
    print(render_markdown(rows) if args.markdown else render_text(rows), end="\n\n")
    for i, note in enumerate(footnotes, 1):
        print(f"{bullet}note {i}: {note}")
    print("\n".join(bullet + line for line in legend(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
