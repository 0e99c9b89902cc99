"""What names a build of generated code, and what a driver is compiled for: light to import,
so that the compile helper (jobs.py), which needs these and not the printers, starts without
sympy or graphc's DSL.

- `versions()`: graphc's and Numba's versions, the CPU and the runtime digest, in every
  generated module's header (so in its cache name) and in the matmul choices' file;
- `runtime_digest()`: the code Numba compiles into generated modules (RUNTIME_FILES);
- `signature(dims)`: the types a driver (run<j>) is compiled for, and `compiled_driver`;
- `no_float16(graph)`: what Numba cannot compile for the CPU, said before it tries.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import numba
    from ..._version import __version__
    return {"graphc": __version__, "numba": numba.__version__, "cpu": cpu_name(),
            "runtime": runtime_digest()}


# What generated code calls and Numba compiles into it: its arrays, BLAS's call, the matmul's
# vectors, dropout's random bits, the pool's thread count, the profile's clock, the C entry
# points, the vectorized erf and exp. Numba's cache checks only each generated module's own
# file, so a change to one of these must name new cache entries (a kernel cached with an old
# BLAS call kept running it).
RUNTIME_FILES = ("arrays.py", "blas.py", "numpy_blas.py", "vectors.py", "splitmix.py",
                 "pool.py", "clock.py", "entry.py", "vmath.py")


@functools.lru_cache(maxsize=1)
def runtime_digest() -> str:
    from .blas import LINKS, PROVIDER  # the BLAS the code calls by name, and the names
    here = os.path.dirname(__file__)
    digest = hashlib.sha256(f"{PROVIDER} {LINKS}".encode())
    for name in RUNTIME_FILES:
        with open(os.path.join(here, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


def signature(dims: int) -> tuple:
    """The types a driver (run<j>) is compiled for: the arrays' ids, the workspace, the
    contractions' modes, then each of `dims` dims."""
    from numba import types  # (not numba.typeof of arrays: it imports numpy.ma, 9 ms)
    arrays = [types.Array(dtype, 1, "C") for dtype in (types.int64, types.uint8, types.int64)]
    return tuple(arrays) + (types.int64,) * dims


def compiled_driver(run, dims: int):
    """Driver `run` compiled (or loaded from the cache) for `signature(dims)`, as its entry
    point: called past Numba's dispatch by type (the arguments are the runtime's own, of
    these types), which imported numpy.ma at a first call, 20 ms. Under NUMBA_DISABLE_JIT,
    `run` itself."""
    if not hasattr(run, "compile"):
        return run
    types = signature(dims)
    run.compile(types)
    return run.overloads[types].entry_point


def no_float16(graph) -> None:
    """Numba compiles no float16 arrays for the CPU: say so, naming what is float16, where
    its compiler would fail with a traceback about its data model."""
    half = [n for n in graph.nodes() if n.dtype == "float16"]
    if not half:
        return
    names = list(dict.fromkeys(f"input {n.name!r}" if n.op == "input" else f"{n.op}"
                               for n in half))
    instead = ("declare those inputs float32 and pass arrays.astype(np.float32)"
               if any(n.op == "input" for n in half) else "compute in float32")
    raise TypeError(f"backend 'cpu' cannot compute float16 ({', '.join(names[:4])}"
                    f"{', ...' if len(names) > 4 else ''}): Numba compiles no float16 "
                    f"arrays for the CPU. Either {instead}, or compile with "
                    "backend='reference', which computes float16 as NumPy does")
