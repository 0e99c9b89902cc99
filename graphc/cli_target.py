"""What a `graphc` command's TARGET is and how it becomes graph outputs: `SCRIPT.py:OBJECT` or
`package.module:OBJECT` loaded without a traceback for a user's mistake, `--input` specs parsed
into tensors, modules and functions called on them, `--grad` and `--stage` applied (graphc/cli.py
holds the commands)."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback

from . import dsl
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
