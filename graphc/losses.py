"""Losses, for the DSL: mse_loss and cross_entropy as torch.nn.functional has them, and the
one_hot they select with.
"""
from __future__ import annotations

from .errors import ShapeError
from .ir.node import make
from .ir.shapes import as_shape, dims_equal, fmt_shape, numel
from .ops.common import is_float
from .dsl import (Tensor, _dtype, _operand, div, log_softmax, mean, mul, neg, sub, sum,
                  where)


def _reduced(loss, reduction, op):
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(pred, target, reduction: str = "mean") -> Tensor:
    """mean((pred - target)**2), as torch.nn.functional.mse_loss. The shapes must be equal:
    broadcasting (B,) against (B, 1) is a classic silent bug, so it is an error here."""
    pred, target = _operand("mse_loss", pred), _operand("mse_loss", target)
    if pred.ndim != target.ndim or not all(dims_equal(p, t) for p, t in zip(pred.shape,
                                                                            target.shape)):
        raise ShapeError(f"mse_loss: pred {fmt_shape(pred.shape)} and target "
                         f"{fmt_shape(target.shape)} must have the same shape")
    d = sub(pred, target)
    return _reduced(mul(d, d), reduction, "mse_loss")


def one_hot(labels, depth, dtype: str = "float32") -> Tensor:
    labels = _operand("one_hot", labels)
    return make("one_hot", (labels,), depth=as_shape((depth,))[0], dtype=_dtype("one_hot", dtype))


def cross_entropy(logits, labels, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy with integer labels, as torch.nn.functional.cross_entropy.

    logits (N, C) with labels (N,); more generally logits (..., C) with labels (...): the
    class axis is the last one. Computed as logsumexp(logits) - logits[label], which is stable
    for logits of any size.
    """
    logits, labels = _operand("cross_entropy", logits), _operand("cross_entropy", labels)
    if is_float(labels.dtype):
        raise ShapeError(f"cross_entropy: labels must be integer class indices, got "
                         f"{labels.dtype} labels of shape {fmt_shape(labels.shape)}")
    if logits.ndim < 1 or labels.ndim != logits.ndim - 1 or not all(
            dims_equal(p, q) for p, q in zip(logits.shape[:-1], labels.shape)):
        raise ShapeError(f"cross_entropy: logits {fmt_shape(logits.shape)} and labels "
                         f"{fmt_shape(labels.shape)} do not fit: labels must have the logits' "
                         f"shape without the class axis (the last)")
    # the label's log-probability, selected (a product with a one-hot would give
    # -inf * 0 = nan for a masked-out logit)
    mask = one_hot(labels, logits.shape[-1], "bool")
    picked = where(mask, log_softmax(logits, axis=-1), 0.0)
    if reduction == "none":
        return neg(sum(picked, axis=-1))
    # a mean or a sum over every label at once: one reduction (the zeros add nothing)
    total = neg(sum(picked))
    return div(total, numel(labels.shape)) if reduction == "mean" else \
        _reduced(total, reduction, "cross_entropy")
