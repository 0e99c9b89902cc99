"""Kernel counting: which nodes of a graph launch work.

Everything computes except where values enter (sources: inputs, constants) and layout views
(the ops of kind "layout": transpose, reshape, broadcast_to), which a backend folds into the
strides its kernels read with. After fusion, one kernel is one fused node: the count is what
a backend launches.
"""
from __future__ import annotations

from ..ir.graph import Graph, topo_order
from ..ir.node import Node
from ..ir.op import kind_of


def kernels(graph) -> list[Node]:
    """The nodes of `graph` (a Graph, a tensor or a list of tensors) that launch work,
    inputs before users.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 3))
    >>> [n.op for n in kernels(gc.Graph.of([gc.exp(x).T.sum()]))]
    ['elementwise', 'sum']
    """
    if isinstance(graph, Graph):
        outputs = graph.outputs
    elif isinstance(graph, Node):
        outputs = [graph]
    else:
        outputs = list(graph)
    return [n for n in topo_order(outputs) if is_kernel(n)]


def is_kernel(node: Node) -> bool:
    return kind_of(node) not in ("source", "layout")
