"""Layers: Linear, activations, LayerNorm, Embedding, and the losses, as their torch.nn
namesakes (initializations included), each a few graph nodes."""
from __future__ import annotations

import math

import numpy as np

from .. import dsl
from ..errors import ShapeError
from ..ir.node import Node
from ..ir.shapes import fmt_shape
from .module import Module, Parameter, check_input, generator


def _uniform(bound: float, shape) -> np.ndarray:
    return generator().uniform(-bound, bound, size=shape).astype(np.float32)


def matmul_last_axis(x: Node, w: Node, bias: Node | None = None) -> Node:
    """x (*, k) @ w (k, n) (+ bias) -> (*, n), computed as one 2-D matmul over the flattened
    leading axes, so the weight's gradient is one (k, *) @ (*, n) matmul rather than a batch
    of outer products summed afterwards. The bias is added before reshaping back, so the
    optimizer can fuse it into the matmul's epilogue."""
    lead = x.shape[:-1]
    flat = dsl.reshape(x, (-1, x.shape[-1])) if x.ndim > 2 else x
    y = flat @ w if bias is None else flat @ w + bias
    return dsl.reshape(y, lead + (w.shape[-1],)) if x.ndim > 2 else y


class Linear(Module):
    """Y = XW + b, as in the lecture: weight W has shape (in_features, out_features), so a
    batch X (b, d) times W (d, e) costs 2·b·d·e FLOPs. (torch.nn.Linear stores W transposed,
    (out, in), and computes X Wᵀ + b; the values it initializes are the same distribution.)

    Accepts inputs of shape (*, in_features), like torch.nn.Linear: (128, 4096, 30, 20)
    through Linear(20, 30) gives (128, 4096, 30, 30). Initialization as torch: weight and
    bias ~ U(-1/√in, 1/√in).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: sizes must be positive, got ({in_features}, "
                             f"{out_features})")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(_uniform(bound, (in_features, out_features)))
        self.bias = Parameter(_uniform(bound, (out_features,))) if bias else None

    def forward(self, x):
        x = check_input(f"Linear({self.in_features}, {self.out_features})", x, 1,
                        self.in_features)
        return matmul_last_axis(x, self.weight.node,
                                None if self.bias is None else self.bias.node)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class _Activation(Module):
    fn = staticmethod(dsl.relu)

    def forward(self, x):
        return type(self).fn(check_input(type(self).__name__, x, 0))


class ReLU(_Activation):
    """max(x, 0), elementwise."""
    fn = staticmethod(dsl.relu)


class Tanh(_Activation):
    fn = staticmethod(dsl.tanh)


class Sigmoid(_Activation):
    fn = staticmethod(dsl.sigmoid)


class GELU(_Activation):
    """The exact (erf) GELU, torch.nn.GELU's default."""
    fn = staticmethod(dsl.gelu)


class LayerNorm(Module):
    """Normalize over the last axes (normalized_shape), then scale and shift, as
    torch.nn.LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased
    variance; weight starts at ones and bias at zeros."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) \
            else tuple(normalized_shape)
        if not shape or any(int(d) < 1 for d in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive sizes, got "
                             f"{normalized_shape!r}")
        self.normalized_shape, self.eps = tuple(int(d) for d in shape), float(eps)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, np.float32))
            self.bias = Parameter(np.zeros(self.normalized_shape, np.float32))
        else:
            self.weight = self.bias = None

    def forward(self, x):
        k = len(self.normalized_shape)
        x = check_input("LayerNorm", x, k)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ShapeError(f"LayerNorm{self.normalized_shape}: the input's last axes must "
                             f"be {self.normalized_shape}, got shape {fmt_shape(x.shape)}")
        axes = tuple(range(x.ndim - k, x.ndim))
        centered = x - dsl.mean(x, axes, keepdims=True)
        var = dsl.mean(centered * centered, axes, keepdims=True)
        y = centered / dsl.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.node + self.bias.node
        return y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Embedding(Module):
    """A lookup table: integer ids (...) -> rows of weight (num_embeddings, embedding_dim),
    as torch.nn.Embedding (weight ~ N(0, 1)). Built as one_hot(ids) @ weight, so its gradient
    is a matmul too; ids fed straight in are range-checked at call time."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(generator().standard_normal(
            (num_embeddings, embedding_dim)).astype(np.float32))

    def forward(self, ids):
        if not isinstance(ids, Node):
            raise TypeError(f"Embedding: expected a graphc tensor of integer ids, got "
                            f"{type(ids).__name__}")
        if np.dtype(ids.dtype).kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        w = self.weight.node
        return matmul_last_axis(dsl.one_hot(ids, self.num_embeddings, w.dtype), w)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class MSELoss(Module):
    """mean((pred - target)^2), as torch.nn.MSELoss (shapes must match exactly)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, pred, target):
        return dsl.mse_loss(pred, target, reduction=self.reduction)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits (..., C) against integer labels (...). Unlike
    torch.nn.CrossEntropyLoss, whose class axis is axis 1, the class axis is the last one
    (as gc.cross_entropy), so (B, T, V) logits of a language model need no transpose."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, labels):
        return dsl.cross_entropy(logits, labels, reduction=self.reduction)
