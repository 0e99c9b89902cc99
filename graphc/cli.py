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
import importlib
import importlib.util
import inspect
import os
import runpy
import shutil
import sys
import traceback

from . import dsl
from .compile import available_backends
from .ir.graph import Graph, graph_inputs
from .ir.node import Node
from .ir.shapes import fmt_shape
from .ops.common import is_float

STAGES = ("raw", "optimized")
WHAT_A_TARGET_IS = ("a graphc tensor, a list/tuple/dict of tensors, a gc.Graph, a compiled "
                    "function, a gc.nn.Module (with --input) or a function returning one of these")


class CLIError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2."""


# ---- loading OBJECT from a script or a module ------------------------------------------------
def load_target(target: str):
    """'path/to/script.py:obj' or 'pkg.module:obj' -> the object."""
    source, sep, name = target.rpartition(":")
    if not sep or not source or not name:
        raise CLIError(f"expected SCRIPT_OR_MODULE:OBJECT (e.g. examples/einsum_tour.py:"
                       f"batched_matmul), got {target!r}")
    module = _load_script(source) if _looks_like_path(source) else _import_module(source)
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise CLIError(f"{source} has no object {name!r}"
                           + _candidates(module, source))
        obj = getattr(obj, part)
    return obj


def _looks_like_path(source: str) -> bool:
    return source.endswith(".py") or os.sep in source or "/" in source or os.path.exists(source)


def _load_script(path: str):
    if not os.path.isfile(path):
        raise CLIError(f"no such file: {path}")
    name = "_graphc_target_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # the script's own imports (examples import _common) resolve
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:
        raise CLIError(f"{path} exited (status {e.code}) while being loaded; guard its "
                       f"script part with `if __name__ == \"__main__\":`") from None
    except Exception as e:  # the user's script failed: say where, in one line
        raise CLIError(f"loading {path} failed: {_one_line(e, path)}") from None
    finally:
        sys.path.remove(folder)
    return module


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise CLIError(f"no file or importable module named {name!r}") from None
        raise CLIError(f"importing {name} failed: {_one_line(e, None)}") from None
    except Exception as e:
        raise CLIError(f"importing {name} failed: {_one_line(e, None)}") from None


def _one_line(e: BaseException, path) -> str:
    if isinstance(e, SyntaxError):  # where the bad line is, not where importlib compiled it
        where = f" ({os.path.basename(e.filename)}, line {e.lineno})" if e.filename else ""
        return f"{type(e).__name__}: {e.msg}{where}"
    where = ""
    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if path and os.path.abspath(f.filename) == os.path.abspath(path)]
    if mine or frames:
        f = (mine or frames)[-1]
        where = f" ({os.path.basename(f.filename)}, line {f.lineno})"
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}{where}"


def _candidates(module, source) -> str:
    found = [k for k, v in vars(module).items() if not k.startswith("_") and (
        _as_tensors(v) is not None or _is_module(v)
        or (inspect.isfunction(v) and getattr(v, "__module__", None) == module.__name__))]
    return f"; it defines: {', '.join(found)}" if found else f"; {source} defines no graphs"


# ---- turning the object into output tensors --------------------------------------------------
def _is_module(obj) -> bool:
    try:
        from .nn import Module
    except ImportError:  # gc.nn not installed in this build
        return False
    return isinstance(obj, Module)


def _as_tensors(obj):
    """The output tensors the object stands for, or None when it is not a graph."""
    from .compile import CompiledFunction
    if isinstance(obj, Node):
        return [obj]
    if isinstance(obj, Graph):
        return list(obj.outputs)
    if isinstance(obj, CompiledFunction):
        return list(obj.outputs)
    if isinstance(obj, dict) and obj and all(isinstance(o, Node) for o in obj.values()):
        return list(obj.values())
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, Node) for o in obj):
        return list(obj)
    return None


def parse_input(spec: str) -> Node:
    """'x=B,64' -> gc.tensor('x', ('B', 64)); 'ids=B,T:int64' sets the dtype; 'x=' is 0-d."""
    name, sep, rest = spec.partition("=")
    if not sep or not name.isidentifier():
        raise CLIError(f"--input expects NAME=SHAPE[:DTYPE], e.g. x=B,64 or ids=B,T:int64; "
                       f"got {spec!r}")
    shape_text, _, dtype = rest.partition(":")
    shape = []
    for d in filter(None, (s.strip() for s in shape_text.split(","))):
        if d.isdigit():
            shape.append(int(d))
        elif d.isidentifier():
            shape.append(d)
        else:
            raise CLIError(f"--input {spec!r}: a dimension must be a number or a name, got {d!r}")
    try:
        return dsl.tensor(name, tuple(shape), dtype or "float32")
    except (TypeError, ValueError) as e:
        raise CLIError(f"--input {spec!r}: {e}") from None


def resolve(obj, label: str, inputs: list[Node]) -> list[Node]:
    """The output tensors of OBJECT (calling a model or a builder function as needed)."""
    pending = list(inputs)
    for _ in range(3):  # a function may return a model that returns tensors
        tensors = _as_tensors(obj)
        if tensors is not None:
            if pending:
                raise CLIError(f"{label} is a graph already: --input is for a model or a "
                               f"function with arguments ({', '.join(i.name for i in pending)} "
                               f"given)")
            return tensors
        if _is_module(obj):
            if not pending:
                raise CLIError(f"{label} is a gc.nn.Module: say what it is called on, e.g. "
                               f"--input {_example_input(obj)}")
            obj, pending = _call(obj, label, pending), []
        elif callable(obj):
            wants = _required_params(obj)
            if wants and not pending:
                raise CLIError(f"{label} takes arguments ({', '.join(wants)}): declare them "
                               f"with --input, e.g. --input {wants[0]}=B,64")
            if wants:
                obj, pending = _call(obj, label, pending), []
            else:  # a builder: what it returns may be a model that the inputs are for
                obj = _call(obj, label, [])
        else:
            break
    kind = type(obj).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    raise CLIError(f"{label} is {article} {kind}, not a graph or model: expected "
                   f"{WHAT_A_TARGET_IS}")


def _example_input(model) -> str:
    """An --input for the model, named as its forward's first argument and shaped for its
    first Linear or Embedding (a Sequential has no in_features of its own)."""
    from .nn import Embedding, Linear
    name = (_required_params(model.forward) or ["x"])[0]
    for _, m in model.named_modules():
        if isinstance(m, Embedding):
            return f"{name}=B,T:int64"
        if isinstance(m, Linear):
            return f"{name}=B,{m.in_features}"
    return f"{name}=B,64"


def _required_params(fn) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _call(fn, label, args):
    shown = ", ".join(f"{a.name}{fmt_shape(a.shape)}" for a in args)
    try:
        return fn(*args)
    except SystemExit as e:  # sys.exit() inside the target: a failure, not graphc's exit
        raise CLIError(f"calling {label}({shown}) exited (status {e.code}) instead of "
                       f"returning a graph") from None
    except Exception as e:
        raise CLIError(f"calling {label}({shown}) failed: {_one_line(e, None)}") from None


def with_gradients(outputs: list[Node]) -> tuple[list[Node], str]:
    """outputs + d(loss)/d(every float input); loss is the first scalar float output (or the
    sum of the first float output, as `y.backward(ones_like(y))` would)."""
    floats = [o for o in outputs if is_float(o.dtype)]
    if not floats:
        raise CLIError("--grad needs a float output to differentiate")
    scalars = [o for o in floats if o.ndim == 0]
    loss = scalars[0] if scalars else dsl.sum(floats[0])
    note = "" if scalars else f"(--grad: the output has shape {fmt_shape(floats[0].shape)}; " \
                              f"differentiating its sum)"
    wrt = [i for i in graph_inputs([loss]) if is_float(i.dtype)]
    if not wrt:
        raise CLIError("--grad: the output depends on no float input")
    from .grad import grad
    return list(outputs) + list(grad(loss, wrt)), note


def build(args) -> list[Node]:
    """TARGET + --input + --grad -> the outputs to draw, cost or explain."""
    return build_named(args)[0]


def build_named(args) -> tuple[list[Node], list | None]:
    """(outputs, the names a dict target gives them, or None)."""
    inputs = [parse_input(s) for s in args.input]
    names = [i.name for i in inputs]
    if len(set(names)) != len(names):
        raise CLIError(f"--input names must differ, got {', '.join(names)}")
    target = load_target(args.target)
    outputs = resolve(target, args.target, inputs)
    given = [str(k) for k in target] if isinstance(target, dict) else None
    if getattr(args, "grad", False):
        outputs, note = with_gradients(outputs)
        given = given + [None] * (len(outputs) - len(given)) if given else None
        if note:
            print(note, file=sys.stderr)  # stdout may be the DOT text
    return outputs, given


def staged(outputs: list[Node], stage: str | None) -> list[Node]:
    if stage in (None, "raw"):
        return outputs
    from .passes.pipeline import optimize
    graph, _ = optimize(Graph.of(outputs))
    return list(graph.outputs)


# ---- the subcommands -------------------------------------------------------------------------
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
