"""Comparisons and the min/max family, for the DSL: `>`, `>=`, `<`, `<=`, `==`, `!=` (bool
tensors), maximum, minimum, abs and clip. Each is one elementwise op (graphc/ops/elementwise.py),
so each fuses with the elementwise ops around it.
"""
from __future__ import annotations

import numbers

import numpy as np
import sympy

from .ir.node import Node
from .ops import elementwise as ew
from .dsl import Tensor, apply


def comparable(v) -> bool:
    """Whether `x == v` (and <, >, ...) builds a comparison: v is a tensor, a parameter, a
    NumPy array or a number. Anything else (None, a string) compares by identity."""
    return isinstance(v, (Node, np.ndarray, np.generic, sympy.Expr)) or \
        hasattr(v, "__graphc_node__") or \
        (isinstance(v, numbers.Number) and not isinstance(v, complex))


def greater(a, b) -> Tensor:
    """a > b elementwise, a bool tensor (also the operator `>`)."""
    return apply(ew.GREATER, a, b)


def greater_equal(a, b) -> Tensor:
    """a >= b elementwise, a bool tensor (also the operator `>=`)."""
    return apply(ew.GREATER_EQUAL, a, b)


def less(a, b) -> Tensor:
    """a < b elementwise, a bool tensor (also the operator `<`)."""
    return apply(ew.LESS, a, b)


def less_equal(a, b) -> Tensor:
    """a <= b elementwise, a bool tensor (also the operator `<=`)."""
    return apply(ew.LESS_EQUAL, a, b)


def equal(a, b) -> Tensor:
    """a == b elementwise, a bool tensor (also the operator `==`)."""
    return apply(ew.EQUAL_TO, a, b)


def not_equal(a, b) -> Tensor:
    """a != b elementwise, a bool tensor (also the operator `!=`; NaN != NaN is true)."""
    return apply(ew.NOT_EQUAL, a, b)


def maximum(a, b) -> Tensor:
    """np.maximum: the larger of a and b, NaN if either is; integer dtypes stay. At a tie
    the gradient is split in half, as torch.maximum."""
    return apply(ew.MAXIMUM, a, b)


def minimum(a, b) -> Tensor:
    """np.minimum: the smaller of a and b, NaN if either is (ties as maximum)."""
    return apply(ew.MINIMUM, a, b)


def abs(x) -> Tensor:  # noqa: A001 (NumPy's name)
    """|x| (integer dtypes stay); its gradient is sign(x), 0 at 0 as in torch."""
    return apply(ew.ABS, x)


def clip(x, lo, hi) -> Tensor:
    """np.clip(x, lo, hi): lo and hi are numbers, tensors, or None for no bound. NaN stays
    NaN; lo > hi gives hi. The gradient is torch.clamp's: 1 where lo <= x <= hi."""
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both (None means no bound on that side)")
    lo = -np.inf if lo is None else lo
    hi = np.inf if hi is None else hi
    return apply(ew.CLIP, x, lo, hi)
