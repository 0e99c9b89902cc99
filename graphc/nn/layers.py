"""Layers: Linear, Conv2d, pooling, activations, LayerNorm, Embedding, Dropout, Flatten and
the losses, as their torch.nn namesakes (initializations included), each a few graph nodes."""
from __future__ import annotations

import math

import numpy as np

from .. import dsl
from ..errors import ShapeError
from ..ir.node import Node, make
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
    as torch.nn.Embedding (weight ~ N(0, 1)). Built as take(weight, ids): a gather, whose
    gradient scatter-adds into the rows read (a repeated id adds up); ids fed straight in are
    range-checked at call time."""

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
        return dsl.take(self.weight.node, ids, axis=0)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Conv2d(Module):
    """A 2-D convolution, as torch.nn.Conv2d (NCHW input, weight (out, in, kh, kw), weight
    and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in * kh * kw): gc.conv2d,
    one contraction over a window view, its bias and activation fused into it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, bias: bool = True):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if min(in_channels, out_channels, kh, kw) < 1:
            raise ValueError(f"Conv2d: sizes must be positive, got in_channels={in_channels}, "
                             f"out_channels={out_channels}, kernel_size={kernel_size}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = (int(kh), int(kw)), stride, padding
        bound = 1.0 / math.sqrt(in_channels * kh * kw)
        self.weight = Parameter(_uniform(bound, (out_channels, in_channels, kh, kw)))
        self.bias = Parameter(_uniform(bound, (out_channels,))) if bias else None

    def forward(self, x):
        x = check_input(f"Conv2d({self.in_channels}, {self.out_channels})", x, 4)
        return dsl.conv2d(x, self.weight.node, None if self.bias is None else self.bias.node,
                          stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class MaxPool2d(Module):
    """The maximum of each window of the last two axes, as torch.nn.MaxPool2d (no padding;
    stride defaults to kernel_size)."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x):
        return dsl.max_pool2d(check_input("MaxPool2d", x, 2), self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class AvgPool2d(MaxPool2d):
    """The mean of each window of the last two axes, as torch.nn.AvgPool2d (no padding)."""

    def forward(self, x):
        return dsl.avg_pool2d(check_input("AvgPool2d", x, 2), self.kernel_size, self.stride)


class Flatten(Module):
    """Axes start_dim..end_dim joined into one (a reshape), as torch.nn.Flatten: (N, C, H, W)
    -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        x = check_input("Flatten", x, 1)
        lo, hi = self.start_dim % x.ndim, self.end_dim % x.ndim
        if lo > hi:
            raise ShapeError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for shape {fmt_shape(x.shape)}")
        return dsl.reshape(x, x.shape[:lo] + (-1,) + x.shape[hi + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


_SEED: list = []


def dropout_seed() -> Node:
    """The int64 scalar input every gc.nn.Dropout reads its seed from ("dropout_seed"):
    gc.train_step and gc.nn.function feed it a new value at every call."""
    if not _SEED:
        _SEED.append(make("input", (), name="dropout_seed", shape=(), dtype="int64",
                          seed=True))
    return _SEED[0]


def is_seed(node) -> bool:
    """Whether `node` is the dropout seed input (fed by train steps, not by the caller)."""
    return isinstance(node, Node) and node.op == "input" and bool(node.attrs.get("seed"))


class Dropout(Module):
    """In training (module.train(), the default), zero each element with probability p and
    scale the others by 1/(1-p), as torch.nn.Dropout; in evaluation (module.eval()) the
    identity. The mask comes from gc.dropout with the graph input `dropout_seed`, which
    gc.train_step feeds with a new seed at every step; each Dropout layer draws its own
    stream, so two layers never share a mask."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.stream = int(generator().integers(0, 2 ** 62))

    def forward(self, x):
        x = check_input("Dropout", x, 0)
        if not self.training or self.p == 0:
            return x
        return dsl.dropout(x, self.p, dropout_seed(), stream=self.stream)

    def extra_repr(self):
        return f"p={self.p}"


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
