"""Python's cyclic garbage collector, paused while graphc compiles a function.

Compiling builds many long-lived objects (graph nodes, sympy expressions, Numba's types and
dispatchers) and little cyclic garbage, and Python's collector, every 700 allocations, looks
at the young objects and now and then at every object there is. With sympy imported one such
full collection took 33 ms here, and the collections took 50 ms of the big MLP's 0.41 s warm
first step. So gc.compile and gc.train_step pause it (`paused`), as mypy raises its thresholds
while it checks a program, and a run of steps is not slowed: a step allocates almost nothing.
The work is put off, not removed: the collections after the compile look at what it built.

Numba's compiling, where a module is not in the cache yet, does make cyclic garbage: without
collections the tiny transformer's first compile held 150 MB more. So it runs with the
collector on (`collecting`).
"""
from __future__ import annotations

import contextlib
import gc
import threading

_lock = threading.Lock()
_depth = 0           # paused() blocks open, on any thread
_paused_here = False  # whether the outermost one turned the collector off (else the user had)


@contextlib.contextmanager
def paused():
    """The collector off for the block (nested blocks: until the outermost ends); a collector
    already off stays off."""
    global _depth, _paused_here
    with _lock:
        if _depth == 0:
            _paused_here = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _paused_here:
                gc.enable()


@contextlib.contextmanager
def collecting():
    """The collector back on for the block, where a paused() block turned it off: for what
    makes garbage (Numba compiling)."""
    with _lock:
        resume = _depth > 0 and _paused_here and not gc.isenabled()
        if resume:
            gc.enable()
    try:
        yield
    finally:
        if resume:
            with _lock:
                if _depth > 0:
                    gc.disable()
