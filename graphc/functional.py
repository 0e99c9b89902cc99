"""Convolution, pooling and dropout (torch.nn.functional's names and layouts), composed from
primitive ops so every pass and backend already knows them:

    conv2d(x, w, b) = einsum("nchwij,ocij->nohw", windows(pad(x)), w) + b[:, None, None]
    max_pool2d(x)   = max(windows(x), axes=(-2, -1))
    avg_pool2d(x)   = mean(windows(x), axes=(-2, -1))
    dropout(x, p)   = where(random_uniform(seed) >= p, x * 1/(1-p), 0)

A convolution is one contraction, so fuse_matmul_epilogue folds its bias and activation into
it and `tile` schedules it; its gradients are contractions again (the input's one followed by
unwindows, the col2im sum of overlapping windows).
"""
from __future__ import annotations

import numbers

import sympy

from .errors import ShapeError
from .ir.node import Node, make
from .ir.shapes import fmt_shape
from . import dsl

Tensor = Node


def _pair(op, name, v) -> tuple:
    vs = (v, v) if isinstance(v, numbers.Integral) else tuple(v)
    if len(vs) != 2 or not all(isinstance(k, numbers.Integral) and not isinstance(k, bool)
                               for k in vs):
        raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return tuple(int(k) for k in vs)


def pad2d(x, padding) -> Tensor:
    """x (..., H, W) with `padding` (ph, pw) zeros on both sides of the last two axes."""
    ph, pw = padding
    if ph < 0 or pw < 0:
        raise ShapeError(f"pad2d: padding must be >= 0, got {padding}")
    if not (ph or pw):
        return x
    lead = (0,) * (x.ndim - 2)
    shape = x.shape[:-2] + (x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw)
    return make("pad", (x,), begin=tuple(map(sympy.Integer, lead + (ph, pw))),
                step=(1,) * x.ndim, shape=shape)


def windows(x, kernel, stride) -> Tensor:
    """The (..., OH, OW, KH, KW) sliding-window view of x (..., H, W)."""
    return make("windows", (x,), kernel=tuple(kernel), stride=tuple(stride))


def conv2d(x, w, b=None, stride=1, padding=0) -> Tensor:
    """A 2-D convolution (cross-correlation, as torch): x (N, C, H, W), w (O, C, KH, KW),
    optional bias b (O,) -> (N, O, OH, OW), OH = (H + 2*ph - KH) // sh + 1.

    >>> import graphc as gc
    >>> x, w = gc.tensor("x", ("N", 3, 8, 8)), gc.tensor("w", (4, 3, 3, 3))
    >>> gc.conv2d(x, w, padding=1).shape, gc.conv2d(x, w, stride=2).shape
    ((N, 4, 8, 8), (N, 4, 3, 3))
    """
    x, w = dsl._operand("conv2d", x), dsl._operand("conv2d", w)
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(f"conv2d: expected x (N, C, H, W) and w (O, C, KH, KW), got "
                         f"{fmt_shape(x.shape)} and {fmt_shape(w.shape)}")
    if x.shape[1] != w.shape[1]:
        raise ShapeError(f"conv2d: x {fmt_shape(x.shape)} has {x.shape[1]} channels, w "
                         f"{fmt_shape(w.shape)} expects {w.shape[1]}")
    if not all(k.is_number for k in w.shape[2:]):
        raise ShapeError(f"conv2d: the kernel size must be known, got w {fmt_shape(w.shape)}")
    stride, padding = _pair("conv2d", "stride", stride), _pair("conv2d", "padding", padding)
    kernel = tuple(int(k) for k in w.shape[2:])
    win = windows(pad2d(x, padding), kernel, stride)          # (N, C, OH, OW, KH, KW)
    y = dsl.einsum("nchwij,ocij->nohw", win, w)
    if b is not None:
        b = dsl._operand("conv2d", b)
        if b.ndim != 1 or b.shape[0] != w.shape[0]:
            raise ShapeError(f"conv2d: the bias must be ({w.shape[0]},), got "
                             f"{fmt_shape(b.shape)}")
        y = y + dsl.reshape(b, (-1, 1, 1))
    return y


def _pool(op, reduce, x, kernel_size, stride):
    x = dsl._operand(op, x)
    if x.ndim < 2:
        raise ShapeError(f"{op}: needs an input (..., H, W), got {fmt_shape(x.shape)}")
    kernel = _pair(op, "kernel_size", kernel_size)
    stride = kernel if stride is None else _pair(op, "stride", stride)
    return reduce(windows(x, kernel, stride), axis=(-2, -1))


def max_pool2d(x, kernel_size, stride=None) -> Tensor:
    """The maximum of each kernel_size window of the last two axes, every stride-th
    (default: kernel_size) window, as torch's max_pool2d without padding. Ties share the
    gradient equally (torch routes it to one of them).

    >>> import graphc as gc
    >>> gc.max_pool2d(gc.tensor("x", ("N", 3, 8, 8)), 2).shape
    (N, 3, 4, 4)
    """
    return _pool("max_pool2d", dsl.max, x, kernel_size, stride)


def avg_pool2d(x, kernel_size, stride=None) -> Tensor:
    """The mean of each kernel_size window of the last two axes (as max_pool2d)."""
    return _pool("avg_pool2d", dsl.mean, x, kernel_size, stride)


def dropout(x, p, seed, stream=0) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p), as torch's
    dropout in training. `seed` is an int64 scalar tensor (an input fed a new value per step;
    gc.train_step does this for gc.nn.Dropout); the mask is a counter-based hash of (seed,
    stream, element index), the same bits on every backend (graphc/ops/random.py). The
    gradient is the same scaled mask.

    >>> import graphc as gc
    >>> x, seed = gc.tensor("x", ("B", 8)), gc.tensor("seed", (), "int64")
    >>> gc.dropout(x, 0.1, seed).shape
    (B, 8)
    """
    x, seed = dsl._operand("dropout", x), dsl._operand("dropout", seed)
    if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if p == 0:
        return x
    if p == 1:  # nothing kept (and no 1/0 scale for a gradient to multiply with 0)
        return dsl.broadcast_to(dsl.constant(0, dtype=x.dtype), x.shape)
    u = make("random_uniform", (seed,), shape=x.shape, stream=int(stream))
    return dsl.where(dsl.greater_equal(u, float(p)), x * (1.0 / (1.0 - p)), 0)
