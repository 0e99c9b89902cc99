"""Layout ops: reshape, transpose, broadcast_to. They move no arithmetic, only indices."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir.node import make
from ..ir.op import OpDef
from ..ir.shapes import broadcast_shapes, dims_equal, fmt_shape, numel
from .common import concrete


def _reshape_infer(inputs, attrs):
    (a,) = inputs
    new = attrs["shape"]
    if not dims_equal(numel(a.shape), numel(new)):
        raise ShapeError(f"reshape: cannot reshape {fmt_shape(a.shape)} "
                         f"({numel(a.shape)} elements) to {fmt_shape(new)} ({numel(new)} elements)")
    return new, a.dtype


def _reshape_reference(values, node, dims):
    return values[0].reshape(concrete(node.shape, dims))


RESHAPE = OpDef("reshape", "layout", _reshape_infer, _reshape_reference,
                lambda node, g: (make("reshape", (g,), shape=node.inputs[0].shape),),
                doc="Row-major reshape. attrs: shape (symbolic, -1 already resolved).")


def _transpose_infer(inputs, attrs):
    (a,) = inputs
    perm = attrs["perm"]
    if sorted(perm) != list(range(a.ndim)):
        raise ShapeError(f"transpose: axes {perm} are not a permutation of the "
                         f"{a.ndim} axes of {fmt_shape(a.shape)}")
    return tuple(a.shape[p] for p in perm), a.dtype


def _transpose_vjp(node, g):
    inverse = tuple(int(i) for i in np.argsort(node.attrs["perm"]))
    return (make("transpose", (g,), perm=inverse),)


TRANSPOSE = OpDef("transpose", "layout", _transpose_infer,
                  lambda values, node, dims: np.transpose(values[0], node.attrs["perm"]),
                  _transpose_vjp, doc="Permute axes. attrs: perm.")


def _broadcast_infer(inputs, attrs):
    (a,) = inputs
    target = attrs["shape"]
    out = broadcast_shapes("broadcast_to", a.shape, target)
    if len(out) != len(target) or not all(dims_equal(o, t) for o, t in zip(out, target)):
        raise ShapeError(f"broadcast_to: cannot broadcast {fmt_shape(a.shape)} "
                         f"to {fmt_shape(target)}")
    return target, a.dtype


BROADCAST_TO = OpDef("broadcast_to", "layout", _broadcast_infer,
                     lambda values, node, dims: np.broadcast_to(values[0], concrete(node.shape, dims)),
                     # the autodiff driver sums the cotangent back to the input's shape
                     lambda node, g: (g,),
                     doc="NumPy broadcasting to a larger shape. attrs: shape.")

# The same values with no gradient: a view as far as computing goes (simplify drops it from
# a graph that is compiled), a cut as far as differentiating goes.
STOP_GRADIENT = OpDef("stop_gradient", "layout", lambda inputs, attrs: (inputs[0].shape,
                                                                        inputs[0].dtype),
                      lambda values, node, dims: values[0],
                      lambda node, g: (None,),
                      doc="The input's values; gradients do not flow through it.")
DECLARATIONS = [RESHAPE, TRANSPOSE, BROADCAST_TO, STOP_GRADIENT]
