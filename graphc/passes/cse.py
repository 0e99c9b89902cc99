"""eliminate_common_subexpressions: structurally equal nodes become one node.

Bottom-up, each node is rebuilt over its inputs' representatives and looked up by its
structural key (op, input identities, attributes, dtype); the first node with a key stands
for all later ones. Because inputs are merged first, equal trees of any depth merge.
`a + b` and `b + a` merge (IEEE addition and multiplication are commutative, bit for bit).
A body whose operands merge reads the one node through one parameter: its statements are
renumbered, never re-evaluated, so `x - x` stays a subtraction. Inputs never merge: each is a
separate argument of the compiled function.
"""
from __future__ import annotations

from ..ir.body import remap_params
from ..ir.graph import Graph
from ..ir.node import Node, building_like, make
from .rewrite import keep, note, rewrite


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Merge nodes that compute the same value from the same inputs.

    >>> import graphc as gc
    >>> x = gc.tensor("x", (3,)); g = gc.Graph.of([gc.exp(x) + gc.exp(x)])
    >>> len(g), len(eliminate_common_subexpressions(g))
    (4, 3)
    """
    table: dict = {}

    def visit(old: Node, new_inputs: tuple) -> Node:
        node = keep(old, new_inputs)
        if node.op == "input":
            return node
        if node.op == "elementwise" and len(set(map(id, node.inputs))) < len(node.inputs):
            with building_like(node):
                node = read_once(node)
            note("operands merged")
        first = table.setdefault(cse_key(node), node)
        if first is not node:
            note("merged")
        return first

    return rewrite(graph, visit)


def read_once(node: Node) -> Node:
    """An elementwise node reading one node through two params, with one param for it."""
    slot, inputs, mapping = {}, [], []
    for i in node.inputs:
        if id(i) not in slot:
            slot[id(i)] = len(inputs)
            inputs.append(i)
        mapping.append(slot[id(i)])
    body = remap_params(node.attrs["body"], [i.dtype for i in inputs], mapping)
    return make("elementwise", inputs, **{**node.attrs.as_dict(), "body": body})


def cse_key(node: Node) -> tuple:
    """node.key; a commutative op over two operands keys them in a canonical order."""
    if node.op == "elementwise" and len(node.inputs) == 2:
        stmt = node.attrs["body"].single
        if stmt is not None and stmt.fn.commutative and sorted(stmt.args) == [0, 1]:
            rest = node.attrs.replace(body=None)
            return ("elementwise", "commutative", stmt.fn, stmt.dtype, stmt.compute,
                    tuple(sorted(map(id, node.inputs))), rest)
    return node.key
