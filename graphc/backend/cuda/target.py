"""What the CUDA printer and runtime are printing for: a GPU, or Numba's CUDA simulator.

`unavailable()` says why backend "cuda" cannot run here (None when it can); it is asked once
per process. `Target` holds the numbers the printers and launches read: threads per block,
the grid cap of grid-stride kernels, whether warp shuffles exist, and the contraction tile
variants that fit the device's shared memory. The simulator (NUMBA_ENABLE_CUDASIM=1) runs
every thread as a Python thread, so it gets small blocks and small tiles: the same kernels
with smaller constants, fast enough for tests on tiny shapes.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why backend "cuda" cannot run in this process, or None when it can."""
    if importlib.util.find_spec("numba_cuda") is None:
        return ("backend 'cuda' needs the numba-cuda package (pip install 'graphc[cuda]'); "
                "it is not installed")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return None  # the simulator: nothing to probe (numba.cuda is imported when used)
    try:
        from numba import cuda
        from numba.cuda.core import config
    except Exception as e:  # pragma: no cover (a broken install)
        return f"backend 'cuda' could not import numba.cuda: {e}"
    if config.ENABLE_CUDASIM:
        return None
    try:
        if cuda.is_available():
            return None
    except Exception:  # pragma: no cover (a driver that fails oddly)
        pass
    return ("backend 'cuda' needs an NVIDIA GPU with a working CUDA driver, or Numba's CUDA "
            "simulator (set NUMBA_ENABLE_CUDASIM=1 before starting Python); neither was "
            "found here")


def simulated() -> bool:
    from numba.cuda.core import config
    return bool(config.ENABLE_CUDASIM)


@dataclass(frozen=True)
class Tiles:
    """One contraction kernel variant: a bm x bn tile of the result per block, bk deep in
    shared memory, each thread a tm x tn register block ((bm/tm) x (bn/tn) threads)."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self) -> tuple:
        return (self.bn // self.tn, self.bm // self.tm)

    def shared_bytes(self, itemsize: int) -> int:
        return self.bk * (self.bm + PAD + self.bn + PAD) * itemsize

    def __str__(self):
        return f"{self.bm}x{self.bn}x{self.bk} tiles, {self.tm}x{self.tn} per thread"


PAD = 4  # columns added to each shared tile row, against bank conflicts on its stores

# largest first: the runtime takes the largest that still gives every SM a block
GPU_TILES = (Tiles(128, 128, 8, 8, 8), Tiles(64, 64, 16, 4, 4), Tiles(32, 32, 16, 2, 2))
SIM_TILES = (Tiles(8, 8, 4, 2, 2),)


@dataclass(frozen=True)
class Target:
    name: str             # the device, in the generated files' header (and their hash)
    simulator: bool
    threads: int          # threads per block of elementwise and reduction kernels
    max_blocks: int       # the grid of a grid-stride kernel is at most this
    sms: int              # streaming multiprocessors (the runtime fills them first)
    shared_bytes: int     # static shared memory per block
    shuffles: bool        # warp shuffles (cuda.shfl_down_sync) in reductions
    tiles: tuple = GPU_TILES

    def tile_variants(self, itemsize: int) -> tuple:
        fit = tuple(t for t in self.tiles if t.shared_bytes(itemsize) <= self.shared_bytes)
        return fit or self.tiles[-1:]


SIMULATOR = Target("the CUDA simulator", True, threads=32, max_blocks=2, sms=2,
                   shared_bytes=48 * 1024, shuffles=False, tiles=SIM_TILES)


@functools.lru_cache(maxsize=1)
def current() -> Target:
    """The Target of this process's device (or the simulator)."""
    if simulated():
        return SIMULATOR
    from numba import cuda
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    cc = ".".join(map(str, dev.compute_capability))
    sms = int(dev.MULTIPROCESSOR_COUNT)
    return Target(f"{name} (compute capability {cc})", False, threads=256, max_blocks=sms * 8,
                  sms=sms, shared_bytes=int(dev.MAX_SHARED_MEMORY_PER_BLOCK), shuffles=True)
