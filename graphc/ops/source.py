"""Where values enter a graph: named inputs, constants, one-hot encodings of labels, and
positions (arange)."""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.op import OpDef
from ..ir.shapes import as_dim, as_shape, fmt_shape, numel
from .common import concrete, is_float


def _input_infer(inputs, attrs):
    return attrs["shape"], attrs["dtype"]


def _input_reference(values, node, dims):
    raise RuntimeError(f"input {node.name!r} is fed by the caller, never evaluated")


INPUT = OpDef("input", "source", _input_infer, _input_reference,
              doc="A named input, fed at call time. attrs: name, shape, dtype.")


def _constant_infer(inputs, attrs):
    a = attrs["value"].array
    return as_shape(a.shape), a.dtype.name


CONSTANT = OpDef("constant", "source", _constant_infer,
                 lambda values, node, dims: node.attrs["value"].array,
                 doc="A constant array. attrs: value (a Const).")


def _one_hot_infer(inputs, attrs):
    (labels,) = inputs
    if is_float(labels.dtype):
        raise ShapeError(f"one_hot: labels must be integers, got {labels.dtype} "
                         f"for a tensor of shape {fmt_shape(labels.shape)}")
    return labels.shape + (as_dim(attrs["depth"]),), attrs["dtype"]


def _one_hot_reference(values, node, dims):
    (labels,) = values
    depth = concrete(node.shape[-1:], dims)[0]
    # compiled functions check labels that come from an input; computed ones are checked here
    # rather than silently encoded as a row of zeros
    if labels.size and (labels.min() < 0 or labels.max() >= depth):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"one_hot: class label {int(bad)} is out of range [0, {depth})")
    return (labels[..., None] == np.arange(depth)).astype(node.dtype)


def _one_hot_flops(node):
    return numel(node.shape)  # one compare per element


# Integer labels carry no gradient, so one_hot has no vjp. A bool one_hot is the mask
# cross_entropy selects the label's log-probability with.
ONE_HOT = OpDef("one_hot", "index", _one_hot_infer, _one_hot_reference, flops=_one_hot_flops,
                doc="labels (...,) -> (..., depth) of 0/1. attrs: depth, dtype.")

def _arange_infer(inputs, attrs):
    if inputs:
        raise ShapeError(f"arange: takes no inputs, got {len(inputs)}")
    return (as_dim(attrs["n"]),), "int64"


# One kernel writing 0, 1, ..., n-1 (int64). n may be a symbolic dim, bound at call time,
# which is what a mask over a symbolic sequence length needs (tril, the causal mask).
ARANGE = OpDef("arange", "index", _arange_infer,
               lambda values, node, dims: np.arange(concrete(node.shape, dims)[0],
                                                    dtype=np.int64),
               flops=lambda node: sympy.Integer(0),
               doc="0, 1, ..., n-1 as int64 (n an int or a symbolic dim). attrs: n.")

DECLARATIONS = [INPUT, CONSTANT, ONE_HOT, ARANGE]
