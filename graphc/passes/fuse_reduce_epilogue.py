"""fuse_reduce_epilogue: the elementwise work on a reduction's result joins its kernel.

A mean is a sum, then a division by the count; a variance's 1/sqrt(var + eps) follows a
mean. Each is one elementwise op over the reduced values, which would otherwise be a kernel
of its own reading back what the reduction just wrote. Here such an elementwise kernel
becomes the reduction's epilogue: the fused_reduce computes `epilogue(reduce(prologue), e_1..)`
once per output element, with the epilogue's statements as they were (the division by the
count still comes after the sum, so the result is the same bit for bit).

Fan-out rule: only when the elementwise node is the reduction's sole reader, the reduction
is no graph output, and the elementwise node's result has the reduction's shape (extra
operands may be read, at most at that shape).
"""
from __future__ import annotations

from ..ir.body import Body
from ..ir.graph import Graph, users
from ..ir.node import Node, building_like, make
from ..ir.op import is_reduction
from .fuse_elementwise import op_names
from .patterns import epilogue_body, same_shape
from .rewrite import keep, note, rewrite


def fuse_reduce_epilogue(graph: Graph) -> Graph:
    """Fold each reduction's sole elementwise reader into it as an epilogue.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 4))
    >>> g = fuse_reduce_epilogue(gc.Graph.of([gc.mean(x, axis=1)]))
    >>> g.outputs[0].op, g.outputs[0].attrs["fused"]
    ('fused_reduce', ('sum', 'div'))
    """
    readers = users(graph.outputs)
    outs = {id(o) for o in graph.outputs}

    def sole_reader(r: Node, node: Node) -> bool:
        return id(r) not in outs and all(u is node for u in readers.get(id(r), []))

    def visit(old, new_inputs):
        if old.op != "elementwise" or not old.inputs:
            return keep(old, new_inputs)
        for k, r in enumerate(old.inputs):
            if is_reduction(r) and sole_reader(r, old) and same_shape(old.shape, r.shape) \
                    and not (r.op == "fused_reduce" and "epilogue" in r.attrs):
                note("epilogues fused")
                with building_like(old):
                    return _fuse(old, k, new_inputs)
        return keep(old, new_inputs)
    return rewrite(graph, visit)


def _fuse(ew: Node, k: int, new_inputs: tuple) -> Node:
    """fused_reduce computing ew over the reduction (input k) as its accumulator."""
    r = new_inputs[k]
    if r.op == "fused_reduce":
        body, operands = r.attrs["body"], list(r.inputs)
    else:
        x = r.inputs[0]
        body, operands = Body((x.dtype,), (), 0), [x]  # the identity prologue
    epilogue, extras = epilogue_body(ew.attrs["body"], new_inputs, lambda j: j == k, r.dtype)
    return make("fused_reduce", operands + extras, reduce=r.attrs.get("reduce", r.op),
                body=body, axes=r.attrs["axes"], keepdims=r.attrs["keepdims"],
                epilogue=epilogue, fused=op_names(r) + op_names(ew))
