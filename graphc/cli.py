"""The `graphc` command: draw, cost and explain a graph defined in a script, run an example.

    graphc dot examples/einsum_tour.py:batched_matmul -o bmm.svg --grad
    graphc dot model.py:net --input x=B,64 -o net.svg --stage optimized
    graphc cost examples/einsum_tour.py:matmul_as_einsum
    graphc explain examples/einsum_tour.py:linear_4d
    graphc run examples/mlp_digits.py --backend reference -- --epochs 2
    graphc bench --quick --only matmul

A TARGET is `SCRIPT.py:OBJECT` or `package.module:OBJECT` (OBJECT may be dotted: `net.fc1`).
OBJECT may be a tensor, a list/tuple/dict of tensors, a gc.Graph, a compiled function, a
gc.nn.Module (called on the tensors `--input` declares), or a function returning any of these
(called with no arguments, or with the `--input` tensors when it takes arguments).

Bad input (a missing file or object, an object that is no graph, an unavailable backend) is
one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import runpy
import shutil
import sys
import traceback

from .cli_target import STAGES, WHAT_A_TARGET_IS, CLIError, build, build_named, staged
from .compile import available_backends
from .ir.graph import Graph


def cmd_dot(args) -> int:
    from .viz.pictures import render
    from .viz.dot import to_dot
    outputs, names = build_named(args)
    stage = args.stage or "raw"
    title = args.title or f"{args.target} ({stage}{', with gradients' if args.grad else ''})"
    collapse = _collapse_option(args)
    options = dict(title=title, stage=stage, names=names, collapse=collapse)
    try:
        if not args.output:
            sys.stdout.write(to_dot(outputs, **options))
            return 0
        written = render(outputs, args.output, **options)
    except RecursionError:
        raise  # main says the graph is too deep
    except (ValueError, RuntimeError) as e:
        raise CLIError(str(e)) from None
    except OSError as e:  # an unwritable path, a directory given as the file
        if e.strerror is None:  # render's own message
            raise CLIError(str(e).removeprefix("render: ")) from None
        raise CLIError(f"cannot write {args.output}: {e.strerror}") from None
    nodes = Graph.of(staged(outputs, stage)).nodes()
    backward = sum(n.origin == "grad" for n in nodes)
    how = "" if not written[-1].endswith((".svg", ".png", ".pdf")) else \
        (" by Graphviz" if shutil.which("dot") else " by graphc's layout (Graphviz's dot is "
                                                     "not installed)")
    print(f"wrote {', '.join(written)}{how} ({len(nodes)} nodes, {backward} of them backward)")
    return 0


def _collapse_option(args):
    if args.collapse and args.collapse_depth:
        raise CLIError("give --collapse MODULES or --collapse-depth N, not both")
    if args.collapse_depth is not None:
        if args.collapse_depth < 1:
            raise CLIError(f"--collapse-depth must be at least 1, got {args.collapse_depth}")
        return args.collapse_depth
    if args.collapse:
        return [m.strip() for item in args.collapse for m in item.split(",") if m.strip()]
    return None


def cmd_cost(args) -> int:
    import graphc
    outputs = build(args)
    dims = parse_dims(args.dims, outputs) if args.dims else None
    report = graphc.cost(outputs)
    if args.stage != "both":
        print(getattr(report, args.stage).table(dims))
    elif dims:
        print(f"raw graph\n{report.raw.table(dims)}\n\noptimized graph\n"
              f"{report.optimized.table(dims)}")
    else:
        print(report)
    return 0


def parse_dims(text: str, outputs) -> dict:
    """'B=64,T=128' -> {"B": 64, "T": 128}, each a symbolic dim of the graph."""
    known = sorted({str(s) for n in Graph.of(outputs).nodes() for d in n.shape
                    for s in getattr(d, "free_symbols", ())})
    dims = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise CLIError(f"--dims expects NAME=SIZE[,NAME=SIZE...], e.g. B=64; got {item!r}")
        if name.strip() not in known:
            raise CLIError(f"--dims: the graph has no dim {name.strip()!r}; its dims are "
                           f"{', '.join(known) or 'none (every shape is concrete)'}")
        dims[name.strip()] = int(value)
    return dims


def cmd_explain(args) -> int:
    import graphc
    print(graphc.explain(build(args)))
    return 0


def cmd_kernels(args) -> int:
    """The kernels a compiled function runs: name, kind, the ops it computes, what runs it
    (BLAS or generated code), its schedule; --source prints the generated module."""
    import graphc
    outputs = build(args)
    try:
        f = graphc.compile(outputs, backend=args.backend)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if args.source:
        print(f.source or f"backend {args.backend!r} generates no source")
        return 0
    for k in f.kernels:
        print(k if not hasattr(k, "op") else f"{k.op:20s} {k.shape}")
    return 0


def cmd_cache(args) -> int:
    from .backend.numba import cache
    if args.action == "clear":
        n = cache.clear()
        print(f"removed {n} module(s) from {cache.cache_dir()}")
        return 0
    info = cache.info()
    print(f"{info['directory']}: {info['modules']} generated module(s), "
          f"{info['bytes'] / 1e6:.1f} MB with Numba's machine code")
    return 0


def cmd_run(args) -> int:
    script, rest = args.script, list(args.args)
    if not os.path.isfile(script):
        raise CLIError(f"no such file: {script}")
    passed = rest[rest.index("--") + 1:] if "--" in rest else []
    own = rest[:rest.index("--")] if "--" in rest else rest
    options = argparse.ArgumentParser(prog="graphc run", add_help=False, allow_abbrev=False)
    options.add_argument("--backend", default=args.backend)
    known, own = options.parse_known_args(own)  # --backend may also follow SCRIPT
    backend = known.backend
    if backend is not None and backend not in available_backends():
        raise CLIError(f"backend {backend!r} is not available here; available backends: "
                       f"{', '.join(available_backends())}")
    argv = [script] + (["--backend", backend] if backend else []) + own + passed
    folder = os.path.dirname(os.path.abspath(script))
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = argv
    sys.path.insert(0, folder)  # as `python SCRIPT` would
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


def bench_script() -> str:
    """benchmarks/run.py of the source checkout this graphc was imported from."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(checkout, "benchmarks", "run.py")


def cmd_bench(args) -> int:
    script = bench_script()
    # its package beside it tells graphc's run.py from some other project's
    if not os.path.isfile(os.path.join(os.path.dirname(script), "graphc_bench", "__init__.py")):
        raise CLIError(f"the benchmarks are not here ({script} is missing): they ship with "
                       f"graphc's source checkout, not with an installed package; run "
                       f"`graphc bench` from a checkout installed with `pip install -e .`")
    # a fresh interpreter: its timings and its fresh-process latencies must not include
    # what this CLI process imported
    import subprocess
    try:
        code = subprocess.call([sys.executable, script, *args.args])
    except KeyboardInterrupt:
        return 130
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphc", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="TARGET is SCRIPT.py:OBJECT or package.module:OBJECT; "
                                       "OBJECT is " + WHAT_A_TARGET_IS + ".")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def graph_command(name, help_text, stages):
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("target", metavar="TARGET", help="SCRIPT.py:OBJECT or module:OBJECT")
        c.add_argument("--input", "-i", action="append", default=[], metavar="NAME=SHAPE",
                       help="a tensor to call a model/function with: x=B,64 (dims are numbers "
                            "or symbolic names), ids=B,T:int64 sets the dtype; repeatable")
        c.add_argument("--grad", action="store_true",
                       help="add the backward graph: d(scalar output)/d(every float input)")
        if stages:
            c.add_argument("--stage", choices=stages, default=stages[0],
                           help=f"which graph (default {stages[0]})")
        return c

    d = graph_command("dot", "draw the forward (and with --grad backward) graph", STAGES)
    d.add_argument("-o", "--output", metavar="FILE",
                   help="FILE.dot, .svg, .png or .pdf (default: DOT text on stdout); pictures "
                        "are drawn by Graphviz where its dot is installed, else by graphc")
    d.add_argument("--title", help="the drawing's title")
    d.add_argument("--collapse", action="append", default=[], metavar="MODULES",
                   help="draw these gc.nn modules (comma-separated names such as "
                        "blocks.0.attn) as one box each; repeatable")
    d.add_argument("--collapse-depth", type=int, metavar="N",
                   help="draw every module N levels down as one box (1: blocks.0, head, ...)")
    c = graph_command("cost", "symbolic FLOPs and bytes per kernel and in total",
                      ("both",) + STAGES)
    c.add_argument("--dims", metavar="B=64,...",
                   help="also evaluate the counts at these sizes of the symbolic dims")
    graph_command("explain", "what the optimizer did to the graph, and why", None)
    k = graph_command("kernels", "the kernels a compiled function runs (cpu backend)", None)
    k.add_argument("--backend", default="cpu", help="the backend to compile for (default cpu)")
    k.add_argument("--source", action="store_true", help="print the generated module")
    ch = sub.add_parser("cache", help="the compile cache: where it is, how big; or empty it",
                        description="graphc cache info | graphc cache clear")
    ch.add_argument("action", choices=("info", "clear"))
    r = sub.add_parser("run", help="run an example script with a chosen backend",
                       description="run SCRIPT as `python SCRIPT` would (in this process), "
                                   "passing --backend and the arguments after `--`")
    r.add_argument("script", metavar="SCRIPT")
    r.add_argument("--backend", help="a backend name (see the error for what is available)")
    r.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    # prefix_chars="+": every argument, --help included, is benchmarks/run.py's, not graphc's
    b = sub.add_parser("bench", help="run benchmarks/run.py: graphc against NumPy, torch and "
                                     "jax, one table (`graphc bench --help` for its options)",
                       add_help=False, prefix_chars="+")
    b.add_argument("args", nargs="*", metavar="ARGS", help="options for benchmarks/run.py")
    return p


COMMANDS = {"dot": cmd_dot, "cost": cmd_cost, "explain": cmd_explain, "run": cmd_run,
            "kernels": cmd_kernels, "cache": cmd_cache, "bench": cmd_bench}


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse printed its usage message
        return e.code if isinstance(e.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except CLIError as e:
        print(f"graphc {args.command}: error: {e}", file=sys.stderr)
        return 2
    except RecursionError as e:
        print(f"graphc {args.command}: error: the graph is too deep for graphc's "
              f"{_deepest_graphc_step(e)} (Python's recursion limit is "
              f"{sys.getrecursionlimit()}); try --stage raw, or a shallower graph",
              file=sys.stderr)
        return 2


def _deepest_graphc_step(e: BaseException) -> str:
    """The graphc module that recursed, e.g. 'passes/fuse_elementwise.py'."""
    package = os.path.dirname(os.path.abspath(__file__))
    mine = [f.filename for f in traceback.extract_tb(e.__traceback__)
            if os.path.abspath(f.filename).startswith(package + os.sep)]
    if not mine:
        return "code"
    return os.path.relpath(mine[-1], package).replace(os.sep, "/")
