"""A graph is its outputs. Walks over it (topological order, inputs) live here; networkx
is used for analyses at the edges (reachability, drawing), never as the node store."""
from __future__ import annotations

from dataclasses import dataclass

from .node import Node


def topo_order(outputs) -> list[Node]:
    """Every node the outputs depend on, inputs before users (iterative: deep graphs are fine)."""
    order, seen = [], set()
    for out in outputs:
        stack = [(out, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for i in reversed(node.inputs):
                if id(i) not in seen:
                    stack.append((i, False))
    return order


def graph_inputs(outputs) -> list[Node]:
    """The input nodes the outputs depend on, in order of first use."""
    return [n for n in topo_order(outputs) if n.op == "input"]


def users(outputs) -> dict[int, list[Node]]:
    """id(node) -> the nodes that read it (with repeats: x*x reads x twice)."""
    out: dict[int, list[Node]] = {}
    for n in topo_order(outputs):
        for i in n.inputs:
            out.setdefault(id(i), []).append(n)
    return out


@dataclass(frozen=True)
class Graph:
    """What a pass takes and returns: outputs, and the input order a compiled function uses."""

    outputs: tuple
    inputs: tuple = ()

    @staticmethod
    def of(outputs, inputs=None) -> "Graph":
        outputs = tuple(outputs)
        return Graph(outputs, tuple(inputs) if inputs is not None else tuple(graph_inputs(outputs)))

    def nodes(self) -> list[Node]:
        """Every node, inputs before users: walked once per graph (nodes never change, and
        the passes of one compile asked 26 times), a new list each time."""
        walked = self.__dict__.get("_nodes")
        if walked is None:
            walked = topo_order(self.outputs)
            object.__setattr__(self, "_nodes", walked)  # a cache, not a field
        return list(walked)

    def __len__(self):
        return len(self.nodes())


def to_networkx(outputs):
    """A networkx.DiGraph of the graph (node ids as keys, the Node under 'node')."""
    import networkx as nx
    g = nx.DiGraph()
    for n in topo_order(outputs):
        g.add_node(id(n), node=n)
        for k, i in enumerate(n.inputs):
            g.add_edge(id(i), id(n), index=k)
    return g
