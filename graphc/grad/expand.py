"""What a fused node stands for: the primitive ops the fusion passes replaced.

The autodiff driver differentiates a fused node (a many-statement elementwise body, a
fused_reduce, a fused_contraction) by expanding it here into one node per op, over the same
inputs, and differentiating those: so an optimized graph can still be differentiated, and
the gradient rules live only on the primitives.
"""
from __future__ import annotations

from ..ir.body import Lit
from ..ir.graph import topo_order
from ..ir.node import Node, make, rebuild
from ..ir.op import get_op
from ..ops.common import is_float
from ..ops.elementwise import apply_stmt
from ..ops.fused import contraction_attrs


def is_fused(node: Node) -> bool:
    if get_op(node.op).fused:
        return True
    return node.op == "elementwise" and node.attrs["body"].single is None


def expand_body(body, operands) -> Node:
    """One node per statement of `body`, its params bound to `operands` (nodes)."""
    values = list(operands)
    for s in body.stmts:
        args = [a if isinstance(a, Lit) else values[a] for a in s.args]
        values.append(apply_stmt(s, args))
    return values[body.result]


def expand(node: Node) -> Node:
    """The primitive nodes a fused node stands for (over the same inputs), its shape kept."""
    a = node.attrs
    if node.op == "elementwise":
        out = expand_body(a["body"], node.inputs)
    elif node.op == "fused_reduce":
        n = a["body"].n_params
        pro = expand_body(a["body"], node.inputs[:n])
        full = _broadcast_shape(node.inputs[:n])
        if tuple(pro.shape) != tuple(full):
            pro = make("broadcast_to", (pro,), shape=full)
        out = make(a["reduce"], (pro,), axes=a["axes"], keepdims=a["keepdims"])
        if a.get("epilogue") is not None:
            out = expand_body(a["epilogue"], (out,) + node.inputs[n:])
    elif node.op == "fused_contraction":
        op, c_attrs = contraction_attrs(node)
        acc = make(op, node.inputs[:2], **c_attrs)
        out = expand_body(a["epilogue"], (acc,) + node.inputs[2:])
    else:
        raise ValueError(f"expand: {node.op!r} is not a fused node")
    if tuple(out.shape) != tuple(node.shape):
        out = make("broadcast_to", (out,), shape=node.shape)
    return out


def _broadcast_shape(nodes):
    from ..ir.shapes import broadcast_shapes
    return broadcast_shapes("fused_reduce", *[n.shape for n in nodes])


def vjp_by_expansion(node: Node, g: Node) -> tuple:
    """The vjp of the primitives the node stands for: the gradient of sum(expand(node) * g)
    taken over stand-in inputs, so that neither g nor a path between two inputs (b = f(a))
    is differentiated, then the stand-ins are replaced by the real nodes."""
    from ..dsl import mul, sum as total
    from .driver import grad
    stand_in: dict[int, Node] = {}  # x@x reads x twice: one stand-in, one cotangent
    for i in node.inputs:
        if id(i) not in stand_in:
            stand_in[id(i)] = make("input", (), name=f"_in{len(stand_in)}", shape=i.shape,
                                   dtype=i.dtype)
    local = rebuild(node, inputs=[stand_in[id(i)] for i in node.inputs])
    g_in = make("input", (), name="_g", shape=g.shape, dtype=g.dtype)
    wrt = [s for s in stand_in.values() if is_float(s.dtype)]
    grads = grad(total(mul(expand(local), g_in)), wrt) if wrt else []
    real = {id(stand_in[id(i)]): i for i in node.inputs}
    real[id(g_in)] = g
    by_input = dict(zip(map(id, wrt), _substitute(grads, real)))
    out, seen = [], set()
    for i in node.inputs:
        s = stand_in[id(i)]
        out.append(by_input.get(id(s)) if id(s) not in seen else None)
        seen.add(id(s))
    return tuple(out)


def _substitute(nodes, real: dict) -> list:
    """`nodes` rebuilt with each stand-in input replaced by the node it stands for."""
    done = dict(real)
    for n in topo_order(nodes):
        if id(n) not in done:
            done[id(n)] = rebuild(n, inputs=[done[id(i)] for i in n.inputs])
    return [done[id(n)] for n in nodes]
