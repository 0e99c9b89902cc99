"""Lowering: an optimized graph becomes a Program of kernels over flat buffers (the kernel IR
every native printer reads). See program.py for the kernel kinds, views.py for access maps,
plan.py for the memory plan."""
from .lowering import lower  # noqa: F401
