"""What every pass shares: a bottom-up rebuild of a graph, and a record of what a pass did.

Nodes are immutable, so a pass never edits a graph: it walks the old nodes inputs-first and
builds, for each, the node that replaces it, given the replacements of its inputs.

    rewrite(graph, visit) -> Graph
        visit(old_node, new_inputs) -> the replacement node. Called once per node, inputs
        before users; `new_inputs` are the replacements already made for old_node.inputs.
        `keep(old_node, new_inputs)` is the do-nothing visit (the same node when nothing
        below it changed). Graph.inputs is kept: a pass may not replace an input node.

    note(what, count=1)
        Count an event ("mul_one", "merged", ...) in the record of the pass now running
        under `optimize` (see pipeline.py); a no-op otherwise. The record is output only:
        it never changes what a pass returns, so passes stay pure functions.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections import Counter
from typing import Callable

from ..ir.graph import Graph, topo_order
from ..ir.node import Node, rebuild

Visit = Callable[[Node, tuple], Node]


def keep(old: Node, new_inputs: tuple) -> Node:
    """The node over its new inputs (the same object when they are unchanged)."""
    return rebuild(old, inputs=new_inputs)


def rewrite(graph: Graph, visit: Visit) -> Graph:
    """Rebuild `graph` bottom-up with `visit`, memoized by node identity.

    >>> import graphc as gc
    >>> x = gc.tensor("x", (3,)); g = gc.Graph.of([gc.neg(x)])
    >>> rewrite(g, keep).outputs[0] is g.outputs[0]
    True
    """
    done: dict[int, Node] = {}
    for old in topo_order(graph.outputs):
        new_inputs = tuple(done[id(i)] for i in old.inputs)
        new = visit(old, new_inputs)
        if old.op == "input" and new is not old:
            raise ValueError(f"rewrite: a pass replaced input {old.name!r}; inputs are the "
                             f"calling convention and must stay")
        done[id(old)] = new
    return Graph(tuple(done[id(o)] for o in graph.outputs), graph.inputs)


_record: contextvars.ContextVar[Counter | None] = contextvars.ContextVar("graphc_pass_record",
                                                                         default=None)


def note(what: str, count: int = 1) -> None:
    """Count `what` in the record of the running pass (if `recording` is active)."""
    rec = _record.get()
    if rec is not None and count:
        rec[what] += count


@contextlib.contextmanager
def recording():
    """Collect the `note`s made inside the block into a Counter (yielded)."""
    rec: Counter = Counter()
    token = _record.set(rec)
    try:
        yield rec
    finally:
        _record.reset(token)
