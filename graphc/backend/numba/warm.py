"""Loading machine code from Numba's cache without first loading Numba's registries.

Numba refreshes its CPU target before every load from its cache (Cache.load_overload), and the
first refresh imports and installs every typing and lowering registry it has (numba.np,
numba.typed, jitclass, polynomials, random generators...): 0.08 s of a warm first step's
0.53 s here. Compiling a function needs them; loading its machine code needs only Numba's
runtime (NRT), which is initialized here instead.

While graphc loads its own modules (`with loading():`), a refresh called by a cache load does
just that (with the runtime's own machine code from graphc's cache: nrt.py). Every compile
still refreshes in full first (Numba's compiler calls refresh itself: numba/core/compiler.py),
so a module that is not in the cache compiles as before, and so does
anything compiled later in the process, the user's own Numba code included. A Numba whose
loads no longer come through load_overload is refreshed in full, as without this module.
"""
from __future__ import annotations

import contextlib
import sys
import threading

from . import nrt

_state = threading.local()
_installed = False


@contextlib.contextmanager
def loading():
    """Cache loads in this block (on this thread) skip Numba's registries."""
    _install()
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from numba.core import caching, registry
        context = registry.cpu_target.target_context
        from_load = caching.Cache.load_overload.__code__
    except (ImportError, AttributeError):  # another Numba: every refresh in full
        return
    full = context.refresh

    def refresh():
        if getattr(_state, "depth", 0) and sys._getframe(1).f_code is from_load:
            nrt.initialize(context)  # what loaded code calls: the runtime, not registries
            return
        full()

    context.refresh = refresh
