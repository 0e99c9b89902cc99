"""Python's cyclic garbage collector, paused while graphc compiles a function.

Compiling builds many long-lived objects (graph nodes, sympy expressions, Numba's types and
dispatchers) and little cyclic garbage, and Python's collector, every 700 allocations, looks
at the young objects and now and then at every object there is. With sympy imported one such
full collection took 33 ms here, and the collections took 50 ms of the big MLP's 0.41 s warm
first step. So gc.compile and gc.train_step pause it (`paused`), as mypy raises its thresholds
while it checks a program, and a run of steps is not slowed: a step allocates almost nothing.
The work is put off, not removed: what the compile built is looked at by the next collection
of the oldest generation.

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
                _promote()
                gc.enable()


def _promote() -> None:
    """What the block built goes to the oldest generation without a look: a warm compile
    leaves 60,000 young objects, nearly all long-lived (the graph, its kernels, Numba's
    dispatchers), and the young collection that first looked at them took 18 ms of the big
    MLP's warm first step. freeze() then unfreeze() is exactly that move (Python's gc docs:
    unfreeze puts the permanent generation back into the oldest one); the few cycles among
    them are collected with the oldest generation. Not where something else froze objects
    (a server before fork): unfreeze would thaw those too."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


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
