"""How much CPU other processes use: what tells a measurement taken on a shared machine from a
quiet one (the matmul choices the cpu backend keeps; the benchmarks' quiet blocks)."""
from __future__ import annotations

import os
import time

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class LoadMeter:
    """Cores used by other processes since this meter was made: busy time in /proc/stat minus
    this process's own CPU time. Children this process waited for count as its own (os.times
    reports them once they are reaped). Without /proc (macOS) nobody else is ever seen."""

    def __init__(self):
        self.start = _readings()

    def others(self) -> float:
        wall, busy, own = (b - a for a, b in zip(self.start, _readings()))
        return max(0.0, (busy - own) / max(wall, 1e-9))


def _readings() -> tuple[float, float, float]:
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
        busy = (sum(ticks) - ticks[3] - ticks[4]) / _TICKS_PER_S  # all but idle and iowait
    except OSError:
        busy = None
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return time.perf_counter(), own if busy is None else busy, own
