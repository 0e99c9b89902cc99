"""How many BLAS threads one call of a compiled function gets, chosen from the sizes it binds.

A small matrix product (the tiny transformer's are a few MFLOP) takes well under a millisecond;
handing it to a second thread costs about as much as it saves on an idle machine, and on a
busy one the helper thread waits for a core, so a 40 ms training step took 130-580 ms on two
loaded cores. So a call whose largest contraction is below SERIAL_BELOW_FLOPS runs BLAS on one
thread; a larger call keeps the library's own setting (all cores, or whatever the user chose
with OPENBLAS_NUM_THREADS and the like: never more than that). threadpoolctl sets the limit for
the call and restores the previous one after it, so NumPy code around graphc is untouched.
"""
from __future__ import annotations

import contextlib

import sympy

# About a millisecond of one core's work: below it a second thread cannot pay for itself.
SERIAL_BELOW_FLOPS = 2 ** 27

CONTRACTIONS = ("matmul", "einsum", "fused_contraction")

_blas_pools = None


def blas_pools():
    """The BLAS libraries NumPy loaded (threadpoolctl's view of them), looked up once."""
    global _blas_pools
    if _blas_pools is None:
        from threadpoolctl import ThreadpoolController
        _blas_pools = ThreadpoolController().select(user_api="blas")
    return _blas_pools


class BlasThreads:
    """The thread choice for one compiled graph: the FLOPs of its largest contraction as a
    function of the symbolic dims, evaluated at each call's sizes."""

    def __init__(self, graph):
        from ..cost import node_cost
        counts = [sympy.sympify(node_cost(n).flops) for n in graph.nodes()
                  if n.op in CONTRACTIONS]
        self.dims = sorted(set().union(*(c.free_symbols for c in counts)), key=str)
        self._counts = sympy.lambdify(self.dims, counts) if counts else None

    def largest_flops(self, dims: dict) -> int:
        """The FLOPs of the largest contraction at these dim sizes (0 without contractions)."""
        if self._counts is None:
            return 0
        return int(max(self._counts(*(dims[d] for d in self.dims))))

    def threads(self, dims: dict) -> int | None:
        """1 for a small call; None for a large one (the library's own setting stays)."""
        return 1 if self.largest_flops(dims) < SERIAL_BELOW_FLOPS else None

    def limit(self, dims: dict):
        """A context in which BLAS runs on the threads this call should get."""
        threads = self.threads(dims)
        if threads is None:
            return contextlib.nullcontext()
        pools = blas_pools()
        if all(p.num_threads <= threads for p in pools.lib_controllers):
            return contextlib.nullcontext()  # already serial: nothing to set or restore
        return pools.limit(limits=threads)
