"""Registers backend "cpu" with gc.compile when Numba is installed (it is a dependency)."""
from __future__ import annotations

import importlib.util

from ..compile import register_backend

if importlib.util.find_spec("numba") is None:  # pragma: no cover (numba is a dependency)
    raise ImportError("backend 'cpu' needs numba")


def _factory(graph, spec, **options):
    from .numba.runtime import factory  # imports numba: only now, not with graphc
    return factory(graph, spec, **options)


register_backend("cpu", _factory)
