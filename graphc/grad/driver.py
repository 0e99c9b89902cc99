"""Reverse-mode autodiff, graph to graph.

Walks the nodes between `wrt` and `y` in reverse topological order, asks each op's vjp for
its inputs' cotangents, sums cotangents over fan-out and reduces broadcast ones back to the
input's shape. Rules return one cotangent per input; this driver owns the rest. The result
is ordinary nodes (marked "grad" for drawing), so it can be optimized, compiled and
differentiated again.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir.graph import topo_order
from ..ir.node import Const, Node, building, make
from ..ir.op import get_op
from ..ir.shapes import fmt_shape
from ..ops.common import is_float
from .expand import is_fused, vjp_by_expansion


def grad(y: Node, wrt) -> list:
    """Gradients of the scalar `y` with respect to each node in `wrt` (a list; a single
    node gives a single gradient). Nothing is computed: the result is graph nodes.

    >>> import graphc as gc
    >>> x = gc.tensor("x", (3,)); (gx,) = gc.grad((x * x).sum(), [x])
    """
    single = isinstance(wrt, Node) or hasattr(wrt, "__graphc_node__")
    try:
        targets = [wrt] if single else list(wrt)
    except TypeError:
        raise TypeError(f"grad: wrt must be a tensor or a list of tensors, got "
                        f"{type(wrt).__name__}") from None
    # a gc.nn.Parameter stands for its graph input, as everywhere else in the DSL
    targets = [t.__graphc_node__() if hasattr(t, "__graphc_node__") else t for t in targets]
    _check_args(y, targets)
    with building("grad"):
        cotangents = _backward(y, targets)
        grads = [_finish(cotangents.get(id(t)), t) for t in targets]
    from ..viz.names import remember_gradients  # drawings call them "loss" and "grad W"
    remember_gradients(y, targets, grads)
    return grads[0] if single else grads


def _check_args(y, targets):
    if not isinstance(y, Node):
        raise TypeError(f"grad: y must be a graphc tensor, got {type(y).__name__}")
    if y.ndim != 0:
        raise ShapeError(f"grad: y must be a scalar (shape ()), got shape {fmt_shape(y.shape)}; "
                         f"reduce it first, e.g. with .sum() or .mean()")
    if not is_float(y.dtype):
        raise TypeError(f"grad: y must be a float tensor, got {y.dtype}")
    for t in targets:
        if not isinstance(t, Node):
            raise TypeError(f"grad: wrt must hold graphc tensors, got {type(t).__name__}")
        if not is_float(t.dtype):
            label = t.name or t.op
            raise TypeError(f"grad: cannot differentiate with respect to {label!r} of integer "
                            f"dtype {t.dtype}")


def _backward(y, targets) -> dict:
    order = topo_order([y])
    wanted = {id(t) for t in targets}
    # only nodes on a path from some target to y get a cotangent; integer values cut a path
    # (they are piecewise constant: labels = astype(x, int) feeding one_hot carry no gradient)
    on_path = set()
    for n in order:
        if id(n) in wanted or (is_float(n.dtype) and any(id(i) in on_path for i in n.inputs)):
            on_path.add(id(n))
    pending: dict[int, list] = {id(y): [make("constant", (), value=_one(y.dtype))]}
    done: dict[int, Node] = {}
    for n in reversed(order):
        parts = pending.pop(id(n), None)
        if parts is None or id(n) not in on_path:
            continue
        with building(scope=n.scope):  # a node's backward sits in the module of its forward
            g = _sum(parts)
            done[id(n)] = g
            if not any(id(i) in on_path for i in n.inputs):
                continue
            rule = vjp_by_expansion if is_fused(n) else get_op(n.op).vjp
            if rule is None:
                raise TypeError(f"grad: op {n.op!r} has no gradient, but a target depends on "
                                f"{n!r} through it")
            for inp, c in zip(n.inputs, rule(n, g)):
                if c is not None and id(inp) in on_path:
                    pending.setdefault(id(inp), []).append(unbroadcast(c, inp))
    return done


def _one(dtype):
    return Const(np.ones((), dtype=dtype))


def _sum(parts):
    from .. import dsl
    joined = join_pads(parts) if len(parts) > 1 else None
    if joined is not None:
        return joined
    total = parts[0]
    for p in parts[1:]:
        total = dsl.add(total, p)
    return total


def join_pads(parts):
    """The cotangents of slices that cut a tensor into consecutive pieces along one axis
    (gc.split, a packed q/k/v) are pads of one shape with boxes side by side: their sum is
    one concat of the pieces (padded with zeros if they do not cover the axis), one kernel
    instead of a pad per piece and the adds. None where the parts are not such pads."""
    first = parts[0]
    if any(p.op != "pad" or p.dtype != first.dtype or p.shape != first.shape or
           any(s != 1 for s in p.attrs["step"]) for p in parts):
        return None
    shape = first.shape
    differ = [k for k in range(len(shape))
              if any(p.attrs["begin"][k] != 0 or p.inputs[0].shape[k] != shape[k]
                     for p in parts)]
    if len(differ) != 1:
        return None
    (axis,) = differ
    pieces = sorted(parts, key=lambda p: _order(p.attrs["begin"][axis]))
    for a, b in zip(pieces, pieces[1:]):
        end = a.attrs["begin"][axis] + a.inputs[0].shape[axis]
        if (end - b.attrs["begin"][axis]).simplify() != 0:
            return None  # a gap or an overlap: the sum it is
    joined = make("concat", [p.inputs[0] for p in pieces], axis=axis)
    if joined.shape == shape:
        return joined
    return make("pad", (joined,), begin=pieces[0].attrs["begin"], step=first.attrs["step"],
                shape=shape)


def _order(begin):
    """Sort key of a symbolic position: its value for large dims (T - 1 after 1)."""
    import sympy
    v = sympy.sympify(begin)
    return (len(v.free_symbols), float(v.subs({s: 10 ** 6 for s in v.free_symbols})))


def unbroadcast(g: Node, like: Node) -> Node:
    """Sum a cotangent over the axes broadcasting added, back to `like`'s shape and dtype."""
    from .. import dsl
    lead = g.ndim - like.ndim
    axes = tuple(lead + k for k, (dg, dl) in enumerate(zip(g.shape[lead:], like.shape))
                 if dl == 1 and dg != 1)
    if lead > 0 and axes:  # one reduction over both (a conv bias (O, 1, 1) of (N, O, H, W))
        g = make("reshape", (dsl.sum(g, axis=tuple(range(lead)) + axes),),
                 shape=like.shape)
    elif lead > 0:
        g = dsl.sum(g, axis=tuple(range(lead)))
    elif axes:
        g = dsl.sum(g, axis=axes, keepdims=True)
    if g.shape != like.shape:  # equal sizes written differently (e.g. B*2 and 2*B)
        g = make("reshape", (g,), shape=like.shape)
    if g.dtype != like.dtype:
        g = dsl.astype(g, like.dtype)
    return g


def _finish(g, target):
    """A target y does not depend on gets zeros of its shape."""
    if g is not None:
        return g
    from .. import dsl
    return dsl.broadcast_to(dsl.constant(0, dtype=target.dtype), target.shape)
