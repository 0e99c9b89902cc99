"""Where values enter a graph: named inputs, constants, and one-hot encodings of labels."""
from __future__ import annotations

import numpy as np

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

DECLARATIONS = [INPUT, CONSTANT, ONE_HOT]
