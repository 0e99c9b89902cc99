"""eliminate_dead_code: drop what no output needs.

A Graph is its outputs, so a node nothing reaches is already gone. What can still be dead is
an operand wired into a node whose body never reads it: after simplify turns x*0 into 0 or
fusion composes bodies, an elementwise, fused_reduce or fused_contraction node may hold an
input its expression no longer mentions, and that input keeps its whole subgraph alive (and
computed). This pass drops such operands, so the graph it returns holds exactly the nodes
some output's value depends on.
"""
from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Node, building_like, rebuild
from ..ir.scalar import ScalarFn
from ..ir.shapes import broadcast_shapes
from .patterns import broadcast, filled, same_shape, used_params
from .rewrite import keep, note, rewrite

# op -> (attribute holding the body, operands before the body's own (a contraction's A, B),
#        leading body parameters tied to no operand (the epilogue's accumulator))
BODIES = {"elementwise": ("fn", 0, 0), "fused_reduce": ("fn", 0, 0),
          "fused_contraction": ("epilogue", 2, 1)}


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
    if node.op not in BODIES:
        return node
    attr, lead, fixed = BODIES[node.op]
    fn = node.attrs[attr]
    reads = used_params(fn)
    if all(reads[fixed:]):
        return node
    with building_like(node):
        if node.op == "elementwise" and not any(reads):
            return _constant(node, fn)
        return _without_unread(node, attr, lead, fixed, reads[fixed:])


def _without_unread(node: Node, attr: str, lead: int, fixed: int, reads: list) -> Node:
    fn = node.attrs[attr]
    params = fn.params[:fixed] + tuple(p for p, r in zip(fn.params[fixed:], reads) if r)
    inputs = node.inputs[:lead] + tuple(i for i, r in zip(node.inputs[lead:], reads) if r)
    if not params:  # a fused reduction keeps an operand: it needs a shape to reduce
        return node
    changes = {attr: ScalarFn(fn.name, params, fn.expr)}
    new = rebuild(node, inputs=inputs, **changes)
    if new.dtype != node.dtype and node.op == "elementwise":  # the dropped operand promoted
        new = rebuild(node, inputs=inputs, dtype=node.dtype, **changes)
    if new.dtype != node.dtype or (node.op == "fused_reduce"
                                   and not same_shape(_reduced(new), _reduced(node))):
        return node  # the dropped operand decided the dtype or the shape being reduced
    return broadcast(new, node.shape)


def _reduced(node: Node) -> tuple:
    """The shape a fused_reduce reduces: its operands broadcast together."""
    return broadcast_shapes(node.op, *[i.shape for i in node.inputs])


def _constant(node: Node, fn: ScalarFn) -> Node:
    if len(node.inputs) == 1 and node.inputs[0].op == "constant" and node.inputs[0].ndim == 0:
        return node  # a body in symbolic dims over its scalar carrier (see patterns.filled)
    return filled(fn.expr, node.shape, node.dtype)
