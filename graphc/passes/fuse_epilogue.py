"""fuse_matmul_epilogue: a contraction and the elementwise kernel on its result become one.

`relu(x@W + b)` after fuse_elementwise is a matmul feeding one elementwise kernel
`relu(acc + b)`; here they become one "fused_contraction" node whose epilogue is applied to
each accumulator tile while it is still in registers, so the (B, 256) pre-activation is
never written to memory. The backward graph gets the same: `dh = dZ @ Wᵀ` followed by
`* relu'` is `dh * [h > 0]` as an epilogue (relu's derivative is written through its output
h, so the forward pre-activation need not stay alive at all).

Fan-out rule: the contraction is fused only when that elementwise node is its only reader
and it is not a graph output; otherwise its result must be stored anyway, and the
elementwise node reads it from memory. Contractions fused: matmul and two-operand einsum.
When an elementwise node reads two such contractions (x@W + y@V), the first one becomes
the accumulator and the other is read as an extra input.
"""
from __future__ import annotations

from ..ir.graph import Graph, users
from ..ir.node import Node, building_like, make
from .fuse_elementwise import op_names
from .patterns import epilogue_body
from .rewrite import keep, note, rewrite


def _fusable_contraction(node: Node) -> bool:
    return node.op == "matmul" or (node.op == "einsum" and len(node.inputs) == 2)


def _contraction_attr(node: Node) -> tuple:
    if node.op == "matmul":
        return ("matmul",)
    return ("einsum", tuple(node.attrs["terms"]), node.attrs["out"])


def fuse_matmul_epilogue(graph: Graph) -> Graph:
    """Fold each contraction's sole elementwise reader into it as an epilogue.

    >>> import graphc as gc
    >>> x, W = gc.tensor("x", ("B", 4)), gc.tensor("W", (4, 3))
    >>> g = fuse_matmul_epilogue(gc.Graph.of([gc.relu(x @ W)]))
    >>> g.outputs[0].op, g.outputs[0].attrs["fused"]
    ('fused_contraction', ('matmul', 'relu'))
    """
    readers = users(graph.outputs)
    outs = {id(o) for o in graph.outputs}

    def sole_reader(c: Node, node: Node) -> bool:
        return id(c) not in outs and all(u is node for u in readers.get(id(c), []))

    def visit(old, new_inputs):
        if old.op != "elementwise":
            return keep(old, new_inputs)
        for k, c in enumerate(old.inputs):
            if _fusable_contraction(c) and sole_reader(c, old):
                note("epilogues fused")
                with building_like(old):
                    return _fuse(old, c, new_inputs[k], new_inputs)
        return keep(old, new_inputs)
    return rewrite(graph, visit)


def _fuse(ew: Node, old_c: Node, new_c: Node, new_inputs: tuple) -> Node:
    """fused_contraction(A, B, extras...) computing ew with old_c's result as `acc`."""
    epilogue, extras = epilogue_body(ew.attrs["body"], new_inputs,
                                     lambda k: ew.inputs[k] is old_c, old_c.dtype)
    return make("fused_contraction", new_c.inputs + tuple(extras),
                contraction=_contraction_attr(old_c), epilogue=epilogue,
                fused=op_names(old_c) + op_names(ew))
