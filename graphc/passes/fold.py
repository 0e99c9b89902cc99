"""fold_constants: a node whose inputs are all constants is computed once, at compile time.

The value comes from the op's own reference implementation (the same NumPy code the
interpreter runs, every statement in its own dtype), cast to the node's dtype, so folding
never changes a result. A fold that
would turn a few constant elements into many (a broadcast, or an outer-product-like
elementwise op) is skipped: the small inputs stay folded and the broadcast stays a view.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..ir.graph import Graph
from ..ir.node import Const, Node, building_like, make
from ..ir.op import get_op
from ..ir.body import Body
from .rewrite import keep, note, rewrite

# A folded constant may have this many elements, or as many as its largest input: folding
# should save work, not fill the graph (and every compiled function) with large arrays.
SMALL = 4096


def fold_constants(graph: Graph) -> Graph:
    """Replace every node computed only from constants by a constant holding its value.

    >>> import graphc as gc
    >>> g = fold_constants(gc.Graph.of([gc.exp(gc.constant(0.0)) + gc.tensor("x", ())]))
    >>> g.outputs[0].inputs[0].op
    'constant'
    """
    return rewrite(graph, _fold)


def _fold(old: Node, new_inputs: tuple) -> Node:
    node = keep(old, new_inputs)
    if not _foldable(node):
        return node
    values = [i.attrs["value"].array for i in node.inputs]
    with np.errstate(all="ignore"):
        value = np.asarray(get_op(node.op).reference(values, node, {})).astype(node.dtype)
    with building_like(node):
        folded = make("constant", (), value=Const(value))
    if folded.shape != tuple(node.shape):  # a reference that disagrees with its shape rule
        raise ValueError(f"fold_constants: op {node.op!r} gave shape {value.shape}, its shape "
                         f"rule says {node.shape}")
    note("folded")
    return folded


def _foldable(node: Node) -> bool:
    if node.op in ("input", "constant") or any(i.op != "constant" for i in node.inputs):
        return False
    if node.op == "broadcast_to" and node.inputs[0].ndim == 0:
        # a number broadcast is how simplify writes a uniform tensor (x*0 -> zeros, see
        # patterns.filled): a free view. Folding it would make a larger constant, and make a
        # second run of the pipeline change the graph the first one returned.
        return False
    if any(getattr(d, "free_symbols", None) for d in node.shape):
        return False  # a symbolic size: the value depends on the call
    if _mentions_dims(node):
        return False
    size = int(np.prod([int(d) for d in node.shape], dtype=np.int64))
    biggest = max([i.attrs["value"].array.size for i in node.inputs], default=1)
    return size <= max(SMALL, biggest)


def _mentions_dims(node: Node) -> bool:
    """An attribute holding a body (or a size) in symbolic dims, such as x/B of a mean."""
    for _, v in node.attrs.items():
        if isinstance(v, Body) and v.dim_symbols():
            return True
        if isinstance(v, sympy.Expr) and v.free_symbols:
            return True
    return False
