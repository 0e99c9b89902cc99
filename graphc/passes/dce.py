"""eliminate_dead_code: drop what no output needs.

A Graph is its outputs, so a node nothing reaches is already gone. What can still be dead is
an operand wired into a node whose body never reads it: a user formula that ignores a
parameter, or a body a fast-math rewrite made independent of an operand. That operand keeps
its whole subgraph alive (and computed). This pass drops such operands (and statements no
result needs), so the graph it returns holds exactly the nodes some output's value depends on.
"""
from __future__ import annotations

from ..ir.body import prune
from ..ir.graph import Graph
from ..ir.node import Node, building_like, make, rebuild
from .patterns import broadcast, same_shape
from .rewrite import keep, note, rewrite


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop operands no body reads, and with them every node only they needed.

    >>> import graphc as gc, sympy
    >>> from graphc.ir.scalar import ScalarFn
    >>> x, y = sympy.symbols("x y"); a = gc.tensor("a", (3,)); b = gc.tensor("b", (3,))
    >>> n = gc.apply(ScalarFn("first", (x, y), 2 * x), a, gc.exp(b))
    >>> len(gc.Graph.of([n])), len(eliminate_dead_code(gc.Graph.of([n])))
    (4, 2)
    """
    out = rewrite(graph, _drop_unread)
    note("dead nodes removed", len(graph) - len(out))
    return out


def _drop_unread(old: Node, new_inputs: tuple) -> Node:
    node = keep(old, new_inputs)
    with building_like(node):
        if node.op == "elementwise":
            return _elementwise(node)
        if node.op == "fused_reduce":
            return _fused_reduce(node)
        if node.op == "fused_contraction":
            return _epilogue(node, lead=2)
    return node


def _elementwise(node: Node) -> Node:
    body, kept = prune(node.attrs["body"])
    if len(kept) == len(node.inputs):
        return node
    new = make("elementwise", [node.inputs[k] for k in kept], **{**node.attrs.as_dict(),
                                                                 "body": body})
    return broadcast(new, node.shape)


def _fused_reduce(node: Node) -> Node:
    a = node.attrs
    n = a["body"].n_params
    body, kept = prune(a["body"])
    if not kept:  # a reduction needs an operand that spans the shape it reduces
        body, kept = a["body"], list(range(n))
    inputs = [node.inputs[k] for k in kept]
    new = rebuild(node, inputs=inputs + list(node.inputs[n:]), body=body)
    if new is not node and not same_shape(_prologue_shape(new), _prologue_shape(node)):
        new = node  # the dropped operand decided the shape being reduced
    if a.get("epilogue") is not None:
        new = _epilogue(new, lead=new.attrs["body"].n_params)
    return new


def _prologue_shape(node: Node) -> tuple:
    from ..ops.fused import prologue_shape
    return prologue_shape(node)


def _epilogue(node: Node, lead: int) -> Node:
    """Drop the epilogue's unread extra operands (its accumulator always stays)."""
    epilogue, kept = prune(node.attrs["epilogue"])
    if len(kept) == node.attrs["epilogue"].n_params:
        return node
    if 0 not in kept:  # the accumulator is what the node computes: keep reading it
        return node
    extras = [node.inputs[lead + k - 1] for k in kept if k > 0]
    new = rebuild(node, inputs=list(node.inputs[:lead]) + extras, epilogue=epilogue)
    return broadcast(new, node.shape)
