"""Registers backend "cuda" with gc.compile when numba-cuda is installed and a GPU (or Numba's
CUDA simulator, NUMBA_ENABLE_CUDASIM=1) is there; otherwise importing this module raises
ImportError saying which is missing, gc.available_backends() leaves "cuda" out, and
gc.compile(..., backend="cuda") raises that message."""
from __future__ import annotations

from ..compile import register_backend
from .cuda.target import unavailable

_why = unavailable()
if _why is not None:
    raise ImportError(_why)


def _factory(graph, spec, **options):
    from .cuda.runtime import factory
    return factory(graph, spec, **options)


register_backend("cuda", _factory)
