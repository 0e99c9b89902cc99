"""A schedule: how a contraction is tiled and parallelized, kept apart from what it computes.

As in Halide, the algorithm (a matmul, an einsum) and its schedule are separate: the `tile`
pass attaches a `Schedule` to every contraction node as the attribute `schedule`, backends
read it, and no schedule ever changes a result (the reference interpreter ignores it).

The contraction's iteration space is (batch..., M, N, K): M indexes rows of the result (from
the first operand), N its columns (from the second), K the summed axis. For an einsum, M, N
and K each stand for a group of index letters; a tile size applies to the group flattened in
the order the letters appear in the output (M, N) or in the first operand (K).

    >>> s = Schedule(tile_m=48, tile_n=48, tile_k=56, parallel_axis=0)
    >>> print(loop_nest(s, m="B", n=256, k=784))
    parallel for m0 in range(0, B, 48):  # axis 0 split across threads
      for n0 in range(0, 256, 48):
        for k0 in range(0, 784, 56):
          acc[m0:m0+48, n0:n0+48] += A[m0:m0+48, k0:k0+56] @ B[k0:k0+56, n0:n0+48]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Schedule:
    """Tile sizes of the M, N and K loops, and the result axis split across threads
    (an axis of the contraction's result, before any epilogue broadcasting)."""

    tile_m: int
    tile_n: int
    tile_k: int
    parallel_axis: int

    def __post_init__(self):
        for name in ("tile_m", "tile_n", "tile_k"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Schedule: {name} must be a positive int, got {v!r}")
        if not isinstance(self.parallel_axis, int) or self.parallel_axis < 0:
            raise ValueError(f"Schedule: parallel_axis must be a non-negative int, "
                             f"got {self.parallel_axis!r}")

    def __str__(self):
        return (f"tile {self.tile_m}x{self.tile_n}x{self.tile_k} "
                f"parallel axis {self.parallel_axis}")


def loop_nest(s: Schedule, m, n, k) -> str:
    """The tiled loop nest a schedule stands for, as readable pseudo-code (what
    Halide's print_loop_nest shows); m, n, k are the loop extents (ints or names)."""
    tm, tn, tk = s.tile_m, s.tile_n, s.tile_k
    return "\n".join([
        f"parallel for m0 in range(0, {m}, {tm}):  # axis {s.parallel_axis} split across threads",
        f"  for n0 in range(0, {n}, {tn}):",
        f"    for k0 in range(0, {k}, {tk}):",
        f"      acc[m0:m0+{tm}, n0:n0+{tn}] += A[m0:m0+{tm}, k0:k0+{tk}] @ "
        f"B[k0:k0+{tk}, n0:n0+{tn}]",
    ])


def run_tiled(a: np.ndarray, b: np.ndarray, s: Schedule) -> np.ndarray:
    """np.matmul(a, b) computed tile by tile as the schedule says: an executable statement of
    what the schedule means, which tests hold against np.matmul (backends do the same work
    in compiled loops). Batch dims broadcast as in np.matmul."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    m, k = a.shape[-2:]
    n = b.shape[-1]
    out = np.zeros(batch + (m, n), dtype=np.result_type(a, b))
    for m0 in range(0, m, s.tile_m):
        for n0 in range(0, n, s.tile_n):
            acc = out[..., m0:m0 + s.tile_m, n0:n0 + s.tile_n]
            for k0 in range(0, k, s.tile_k):
                acc += a[..., m0:m0 + s.tile_m, k0:k0 + s.tile_k] @ \
                    b[..., k0:k0 + s.tile_k, n0:n0 + s.tile_n]
    return out
