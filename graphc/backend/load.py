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


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS
        return os.cpu_count() or 1


class CoreBudget:
    """How many threads this process should run now: its cores less those other processes
    used over the last sample (read again at most every INTERVAL_S, so a call pays a clock
    read). On two cores a training step split over two threads while another process held a
    core ran 2-15x slower than on one thread (a thread waits for the core it shares), so a
    second thread is taken only while others leave it free: others at half a core or more
    give a thread up."""

    INTERVAL_S = 0.2

    def __init__(self):
        self.cores = _cores()
        self._last = _readings()
        self._free = self.cores

    def free(self) -> int:
        now = time.perf_counter()
        if now - self._last[0] >= self.INTERVAL_S:
            readings = _readings()
            wall, busy, own = (b - a for a, b in zip(self._last, readings))
            others = max(0.0, (busy - own) / max(wall, 1e-9))
            self._free = max(1, min(self.cores, int(self.cores - others + 0.5)))
            self._last = readings
        return self._free


BUDGET = CoreBudget()
