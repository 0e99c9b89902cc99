"""What a drawing shows: the output tensors of whatever the user hands gc.to_dot / gc.render,
at the stage asked for, with a name per output."""
from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Node
from .names import output_names

STAGES = ("raw", "optimized")
WHAT_CAN_BE_DRAWN = ("a graphc tensor, a list, tuple or dict of tensors, a gc.Graph, or a "
                     "compiled function (gc.compile, gc.train_step, gc.nn.function)")


def outputs_to_draw(obj, stage: str | None = None, names=None) -> tuple[list[Node], list[str]]:
    """(outputs, their names). `stage` is "raw" (the graph as built), "optimized" (after the
    passes), or None: the compiled graph of a compiled function, else the graph as built."""
    if stage not in (None,) + STAGES:
        raise ValueError(f"stage must be 'raw' or 'optimized', got {stage!r}")
    compiled = _compiled_function(obj)
    if compiled is not None:
        raw = list(compiled.raw_graph.outputs)
        given = _merge(_step_names(obj, len(raw)), names)
        final = raw if stage == "raw" else list(compiled.graph.outputs)
        return final, output_names(raw, given)  # named as built: optimizing keeps the order
    outputs, given = _tensors(obj)
    given = _merge(given, names)
    named = output_names(outputs, given)
    if stage == "optimized":
        from ..passes.pipeline import optimize
        outputs = list(optimize(Graph.of(outputs))[0].outputs)
    return outputs, named


def _tensors(obj) -> tuple[list[Node], list | None]:
    if isinstance(obj, Node) or hasattr(obj, "__graphc_node__"):
        return [_node(obj)], None
    if isinstance(obj, Graph):
        return list(obj.outputs), None
    if isinstance(obj, dict) and obj:
        return [_node(v) for v in obj.values()], [str(k) for k in obj]
    if isinstance(obj, (list, tuple)) and obj:
        return [_node(v) for v in obj], None
    raise TypeError(f"cannot draw {type(obj).__name__}: expected {WHAT_CAN_BE_DRAWN}")


def _node(value) -> Node:
    if hasattr(value, "__graphc_node__"):  # a gc.nn.Parameter stands for its graph input
        value = value.__graphc_node__()
    if not isinstance(value, Node):
        raise TypeError(f"cannot draw {type(value).__name__}: expected {WHAT_CAN_BE_DRAWN}")
    return value


def _compiled_function(obj):
    """The CompiledFunction behind obj: itself, or the `.compiled` of a train step or an
    nn.Function."""
    from ..compile import CompiledFunction
    for candidate in (obj, getattr(obj, "compiled", None)):
        if isinstance(candidate, CompiledFunction):
            return candidate
    return None


def _step_names(obj, count: int) -> list | None:
    """A train step's outputs: the loss, then each parameter's and state's new value."""
    update = getattr(obj, "update", None)
    params = getattr(obj, "params", None)
    if update is None or params is None:
        return None
    names = ["loss"] + [f"new {p.name}" for p in params] + \
        [f"new {key}" for key in getattr(update, "state_outputs", {})]
    return names if len(names) == count else None


def _merge(inferred, given):
    """The caller's names (a list, or one string for one output) win over inferred ones."""
    if given is None:
        return inferred
    if isinstance(given, str):
        given = [given]
    return list(given)
