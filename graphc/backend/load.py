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


def _readings(cpus: frozenset | None = None) -> tuple[float, float, float]:
    """(now, busy seconds of the machine's CPUs, or of `cpus` only, this process's seconds)."""
    try:
        with open("/proc/stat") as f:
            if cpus is None:
                rows = [f.readline()]  # the first line: all CPUs together
            else:
                rows = [ln for ln in f if ln.startswith("cpu") and ln[3:4].isdigit() and
                        int(ln.split(None, 1)[0][3:]) in cpus]
        busy = 0.0
        for row in rows:
            ticks = [int(v) for v in row.split()[1:9]]
            busy += (sum(ticks) - ticks[3] - ticks[4]) / _TICKS_PER_S  # but idle and iowait
    except (OSError, ValueError):
        busy = None
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return time.perf_counter(), own if busy is None else busy, own


def _affinity() -> frozenset | None:
    """The CPUs this process may run on (None where the system does not say: macOS)."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """How many cores this process may run on."""
    cpus = _affinity()
    return len(cpus) if cpus else (os.cpu_count() or 1)


class CoreBudget:
    """How many threads this process should run now: its cores less those other processes
    used over the last sample (read again at most every INTERVAL_S, so a call pays a clock
    read). On two cores a training step split over two threads while another process held a
    core ran 2-15x slower than on one thread (a thread waits for the core it shares), so a
    second thread is taken only while others leave it free: others at half a core or more
    give a thread up."""

    INTERVAL_S = 0.2

    def __init__(self):
        # only the CPUs this process may use count: on a large machine with two of its cores
        # given to this process (taskset, a batch scheduler), work on the others is no load
        self._cpus = _affinity()
        self.cores = usable_cores()
        if self._cpus is not None and len(self._cpus) == (os.cpu_count() or 0):
            self._cpus = None  # all of them: the first line of /proc/stat says it at once
        self._last = _readings(self._cpus)
        self._free = self.cores

    def free(self) -> int:
        now = time.perf_counter()
        if now - self._last[0] >= self.INTERVAL_S:
            readings = _readings(self._cpus)
            wall, busy, own = (b - a for a, b in zip(self._last, readings))
            others = max(0.0, (busy - own) / max(wall, 1e-9))
            self._free = max(1, min(self.cores, int(self.cores - others + 0.5)))
            self._last = readings
        return self._free


    def forget(self) -> None:
        """Start a new sample now, all cores free until it says otherwise: the load the last
        one counted has ended (a compile helper this process has just seen exit, whose
        seconds counted as others' until it was reaped)."""
        self._last = _readings(self._cpus)
        self._free = self.cores


BUDGET = CoreBudget()
