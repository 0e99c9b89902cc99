"""eliminate_common_subexpressions: structurally equal nodes become one node.

Bottom-up, each node is rebuilt over its inputs' representatives and looked up by its
structural key (op, input identities, attributes, dtype); the first node with a key stands
for all later ones. Because inputs are merged first, equal trees of any depth merge.
Elementwise bodies are compared up to the order of their operands, so a+b and b+a merge.
A body whose operands merge reads the one node once, and sympy evaluates it: x + x = 2*x,
but also x - x = 0 and x/x = 1, which differ from the unmerged graph only where x is inf or
nan (as fuse_elementwise's compositions do). Inputs never merge: each is a separate
argument of the compiled function.
"""
from __future__ import annotations

import sympy

from ..ir.graph import Graph
from ..ir.node import Node, building_like
from .rewrite import keep, note, rewrite
from .simplify import repeated_operand


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
            # merging made two operands one node: read it once (x + x = 2*x)
            with building_like(node):
                node = repeated_operand(node, None)
            note("operands merged")
        first = table.setdefault(cse_key(node), node)
        if first is not node:
            note("merged")
        return first

    return rewrite(graph, visit)


def cse_key(node: Node) -> tuple:
    """node.key, with an elementwise body's operands put in a canonical order."""
    if node.op != "elementwise":
        return node.key
    fn = node.attrs["fn"]
    order = sorted(range(len(node.inputs)), key=lambda k: id(node.inputs[k]))
    # '#' cannot appear in a dim's name (dims are identifiers), so nothing is captured
    canon = {fn.params[k]: sympy.Symbol(f"#{j}") for j, k in enumerate(order)}
    rest = node.attrs.replace(fn=None)
    return ("elementwise", tuple(id(node.inputs[k]) for k in order),
            fn.expr.xreplace(canon), rest, node.dtype)
