"""tile: choose a Schedule for every contraction, from its shapes and the cache sizes.

The model is a packed matrix product as BLIS and GotoBLAS compute it (what the cpu
backend's generated kernel does, graphc/backend/numba/gemm.py); the numbers are data:
- tile_k: a tile_k-long panel of B, 64 bytes wide, stays in L1 while the micro-kernel
  streams over it, with room for a panel of A: tile_k = L1 / (2 * 64 bytes). (AVX-512's
  micro-kernel reads 128-byte-wide panels: tile_k = 256 then fills the L1 the model assumes;
  measured on this machine's 48 KiB L1, 256 ran as fast as 384 and 2% faster than 128.)
- tile_n: the tile_k x tile_n block of B, packed once per tile, stays in half of L2.
- tile_m: the rows of the result one tile computes, at most ROWS so that even one batch of
  rows makes several tiles for the threads to share, and its accumulators fit the other
  half of L2. Each tile packs its block of B again, so fewer, taller tiles pack less: at
  n = 1024 on one core, 64 rows ran at 77 GFLOP/s, 128 at 92, 256 at 103.
- Small dims. A tile never exceeds a known dim (N = 10 gives tile_n = 10). A symbolic dim
  (the batch B) is assumed large: it gets the full tile, except that a symbolic N (the
  sequence length T of an attention's q kᵀ) gets at most SYMBOLIC_N columns: taken as huge
  it would leave tile_m at 8 rows, and B would be packed again for every 8 rows of a T x T
  product that fits one tile (a 20% slower tiny_transformer step at T = 32).
- Parallel axis: the largest axis of the result whose iterations are independent. A batch
  axis when there is one (every batch item is a separate matmul), else M or N, whichever
  is larger; a symbolic dim counts as larger than any known one (it is the batch size).
Schedules change no result: the reference backend ignores them and tests prove it.
"""
from __future__ import annotations

import math

import numpy as np
import sympy

from ..ir.graph import Graph
from ..ir.node import Node, rebuild
from ..ir.schedule import Schedule
from ..ir.shapes import broadcast_shapes, numel
from ..ops.common import result_dtype
from ..ops.fused import contraction_attrs
from .rewrite import keep, note, rewrite

L1_BYTES = 32 * 1024
L2_BYTES = 1024 * 1024
PANEL_BYTES = 64  # the model's panel width (see tile_k above)
ROWS = 128        # tile_m at most: a 256-row batch still makes 2 tiles to share among threads
VECTOR = 8        # tiles are multiples of it when they can be
SYMBOLIC_N = 256  # tile_n at most, for a symbolic N
CONTRACTIONS = ("matmul", "einsum", "fused_contraction")


def contraction_axes(node: Node) -> tuple[list, list, list, list]:
    """(batch, m, n, k) for a contraction: lists of (axis of the result or None, size).
    Summed axes (k) have no result axis. Works for matmul, einsum and fused_contraction."""
    op, attrs = (contraction_attrs(node) if node.op == "fused_contraction"
                 else (node.op, node.attrs.as_dict()))
    operands = node.inputs[:2] if node.op == "fused_contraction" else node.inputs
    if op == "matmul":
        a, b = operands
        batch = list(enumerate(broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])))
        r = len(batch)
        return batch, [(r, a.shape[-2])], [(r + 1, b.shape[-1])], [(None, a.shape[-1])]
    terms, out = attrs["terms"], attrs["out"]
    sizes = {}
    for t, o in zip(terms, operands):
        sizes.update(zip(t, o.shape))
    first, rest = set(terms[0]), set("".join(terms[1:]))
    batch = [(k, sizes[c]) for k, c in enumerate(out) if c in first and c in rest]
    m = [(k, sizes[c]) for k, c in enumerate(out) if c in first and c not in rest]
    n = [(k, sizes[c]) for k, c in enumerate(out) if c not in first]
    summed = dict.fromkeys(c for c in "".join(terms) if c not in out)
    return batch, m, n, [(None, sizes[c]) for c in summed]


def _extent(axes) -> sympy.Expr:
    return numel([d for _, d in axes])


def _cap(size: sympy.Expr, limit: int) -> int:
    """min(size, limit) for a known size; a symbolic size is taken as large."""
    return max(1, min(int(size), limit)) if size.is_number else limit


def _round(t: float) -> int:
    t = int(t)
    return t - t % VECTOR if t >= VECTOR else max(1, t)


def choose_schedule(node: Node, l1_bytes: int = L1_BYTES, l2_bytes: int = L2_BYTES) -> Schedule:
    """The schedule the model above picks for one contraction node."""
    batch, m, n, k = contraction_axes(node)
    acc_dtype = result_dtype(*[i.dtype for i in node.inputs[:2]]) \
        if node.op == "fused_contraction" else node.dtype
    size = np.dtype(acc_dtype).itemsize
    tk = _cap(_extent(k), _round(l1_bytes / (2 * PANEL_BYTES)))
    tn = _cap(_extent(n), _round(l2_bytes / (2 * tk * size)))
    if not _extent(n).is_number:
        tn = min(tn, SYMBOLIC_N)
    tm = _cap(_extent(m), _round(min(l2_bytes / (2 * (tn + tk) * size), ROWS)))
    return Schedule(tm, tn, tk, _parallel_axis(batch or m + n))


def _parallel_axis(axes) -> int:
    """The axis of the largest size; symbolic sizes win over known ones, ties go first."""
    def rank(item):
        _, d = item
        return (not d.is_number, int(d) if d.is_number else 0)
    return max(axes, key=rank)[0] if axes else 0  # a scalar result: nothing to split


def tile(graph: Graph, l1_bytes: int = L1_BYTES, l2_bytes: int = L2_BYTES) -> Graph:
    """Record a Schedule (attr `schedule`) on every matmul, einsum and fused_contraction.

    >>> import graphc as gc
    >>> x, W = gc.tensor("x", ("B", 784)), gc.tensor("W", (784, 256))
    >>> print(tile(gc.Graph.of([x @ W])).outputs[0].attrs["schedule"])
    tile 128x256x256 parallel axis 0
    """
    def visit(old, new_inputs):
        new = keep(old, new_inputs)
        if old.op not in CONTRACTIONS:
            return new
        note("contractions scheduled")
        return rebuild(new, schedule=choose_schedule(new, l1_bytes, l2_bytes))
    return rewrite(graph, visit)
