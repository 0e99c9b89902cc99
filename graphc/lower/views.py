"""Views: where a tensor's elements live in a flat buffer (NumPy's strided array, symbolically).

Every buffer the Program allocates is flat and row-major. A `View` says how a tensor of
`shape` reads one: element (i0, i1, ...) is `buffer[offset + i0*strides[0] + i1*strides[1]
+ ...]`, offset and strides being sympy expressions in the symbolic dims. Layout ops move no
data: a transpose permutes the strides, a broadcast gives new or size-1 axes stride 0, a reshape
of a contiguous view (or one that only gains or loses axes of size 1) keeps the buffer. A reshape it cannot express so (the rows
of a transposed matrix, flattened) returns None: the lowering then copies the view into a new
buffer once (a copy kernel, shown by gc.explain).

`Access` is a view aligned to a kernel's iteration domain (NumPy's right-aligned broadcasting),
what a kernel printer turns into index arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..ir.shapes import dims_equal

ZERO, ONE = sympy.Integer(0), sympy.Integer(1)


def row_major(shape) -> tuple:
    """The strides of a contiguous row-major array of `shape`, in elements."""
    strides, step = [], ONE
    for d in reversed(tuple(shape)):
        strides.append(step)
        step = step * d
    return tuple(reversed(strides))


def _same(a, b) -> bool:
    return a == b or dims_equal(a, b)


@dataclass(frozen=True)
class View:
    buffer: str
    shape: tuple
    strides: tuple
    offset: sympy.Expr = ZERO

    @staticmethod
    def whole(buffer: str, shape) -> "View":
        shape = tuple(shape)
        return View(buffer, shape, row_major(shape), ZERO)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def is_contiguous(self) -> bool:
        """Row-major and dense (axes of size 1 may have any stride)."""
        want = row_major(self.shape)
        return all(d == 1 or _same(s, w) for d, s, w in zip(self.shape, self.strides, want))

    # ---- what layout ops do to a view --------------------------------------------------
    def transpose(self, perm) -> "View":
        return View(self.buffer, tuple(self.shape[p] for p in perm),
                    tuple(self.strides[p] for p in perm), self.offset)

    def broadcast_to(self, shape) -> "View":
        shape = tuple(shape)
        lead = len(shape) - self.ndim
        strides = [ZERO] * lead
        for d_new, d, s in zip(shape[lead:], self.shape, self.strides):
            strides.append(ZERO if d == 1 and d_new != 1 else s)
        return View(self.buffer, shape, tuple(strides), self.offset)

    def reshape(self, shape) -> "View | None":
        """The same elements as `shape` without moving them, or None when they would have to
        move. A contiguous view reshapes freely; any view can add or drop axes of size 1."""
        shape = tuple(shape)
        if self.is_contiguous():
            return View(self.buffer, shape, row_major(shape), self.offset)
        old = [(d, s) for d, s in zip(self.shape, self.strides) if d != 1]
        new = [d for d in shape if d != 1]
        if len(old) != len(new) or not all(_same(d, n) for (d, _), n in zip(old, new)):
            return None
        it = iter(s for _, s in old)
        return View(self.buffer, shape, tuple(ONE if d == 1 else next(it) for d in shape),
                    self.offset)

    def slice(self, starts, steps, shape) -> "View":
        """Elements start, start+step, ... along each axis (`shape` the new sizes)."""
        offset = self.offset + sum((st * s for st, s in zip(starts, self.strides)), ZERO)
        return View(self.buffer, tuple(shape), tuple(s * k for s, k in zip(self.strides, steps)),
                    offset)

    def windows(self, axes, kernel, stride, shape) -> "View":
        """Sliding windows over `axes` (a view: each window reads the buffer in place)."""
        strides = list(self.strides)
        window = [self.strides[a] for a in axes]
        for a, st in zip(axes, stride):
            strides[a] = self.strides[a] * st
        return View(self.buffer, tuple(shape), tuple(strides) + tuple(window), self.offset)


@dataclass(frozen=True)
class Access:
    """How a kernel reads (or writes) an array over its iteration domain: element
    buffer[offset + sum(i_k * strides[k])] at domain index (i_0, ...)."""

    buffer: str
    strides: tuple
    offset: sympy.Expr = ZERO


def align(view: View, domain) -> Access:
    """`view` read over `domain` by NumPy's rules: its axes align with the domain's last
    axes; missing and size-1 axes repeat (stride 0)."""
    domain = tuple(domain)
    lead = len(domain) - view.ndim
    if lead < 0:
        raise ValueError(f"align: a view of rank {view.ndim} over a domain of rank "
                         f"{len(domain)}")
    strides = [ZERO] * lead
    for d, v, s in zip(domain[lead:], view.shape, view.strides):
        strides.append(ZERO if v == 1 else s)
    return Access(view.buffer, tuple(strides), view.offset)
