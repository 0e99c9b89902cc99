"""The NumPy reference interpreter: the oracle every other backend is tested against.

It evaluates node by node with each op's declared `reference` implementation. With
`upcast=True` every float is computed in float64 (what gc.check_grad uses).
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import topo_order
from ..ir.op import get_op
from ..ops.common import is_float


def evaluate(outputs, feeds: dict, dims: dict, upcast: bool = False) -> list:
    """Values of `outputs` given input arrays by name and dim sizes."""
    values: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):  # inf and nan are results here, as IEEE defines them
        for node in topo_order(outputs):
            values[id(node)] = _value(node, values, feeds, dims, upcast)
    return [values[id(o)] for o in outputs]


def _value(node, values, feeds, dims, upcast):
    if node.op == "input":
        v = feeds[node.name]
    else:
        v = get_op(node.op).reference([values[id(i)] for i in node.inputs], node, dims)
    dtype = "float64" if upcast and is_float(node.dtype) else node.dtype
    return np.asarray(v).astype(dtype, copy=False)


class ReferenceFunction:
    """What gc.compile(..., backend="reference") returns."""

    backend = "reference"

    def __init__(self, graph, spec, upcast: bool = False):
        self.graph, self.spec, self.upcast = graph, spec, upcast

    def run(self, arrays: dict, dims: dict) -> list:
        return evaluate(self.graph.outputs, arrays, dims, self.upcast)
