"""The lines above the table: when, on what CPU, with which versions and thread counts.
Versions are read from the installed packages' metadata: importing torch or jax just to
print a version would slow every run, and a missing one is only "not installed"."""
from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata


def describe() -> list[str]:
    import graphc
    import numba
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    versions = [f"python {platform.python_version()}", f"graphc {graphc.__version__}",
                f"numba {numba.__version__} ({numba.get_num_threads()} threads)"]
    versions += [f"{name} {_version(name)}" for name in ("numpy", "torch", "jax")]
    return [f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"CPU: {cpu_model()}, {cores} cores ({usable} usable by this process)",
            f"versions: {', '.join(versions)}",
            f"BLAS: {blas()}", f"graphc's cpu backend calls: {backend_blas()}"]


def cpu_model() -> str:
    from graphc.backend.numba.build import cpu_name  # what the compile cache is keyed by
    return cpu_name()


def blas() -> str:
    """NumPy's BLAS library and its thread count, as threadpoolctl finds them."""
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl looks for)
    from threadpoolctl import threadpool_info
    found = [f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('num_threads')} "
             f"threads, {os.path.basename(p.get('filepath', ''))})"
             for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(found) or "none found"


def backend_blas() -> str:
    """The BLAS generated code calls: MKL where installed (or GRAPHC_BLAS), else OpenBLAS."""
    from graphc.backend.numba.blas import PROVIDER
    return PROVIDER


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
