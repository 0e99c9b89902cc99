"""How every number in benchmarks/run.py is timed: warm up, then the median of quiet blocks.

A block is k calls in a row, k chosen so that it lasts about `block_s`; the time per call is
the block's time / k. The machine may be shared, so each block also measures how much CPU
*other* processes used meanwhile (busy time in /proc/stat minus this process's own CPU
time): a block during which they used more than `quiet` cores is discarded and re-run. The
waiting and re-running are bounded by one budget for the whole run, so a busy machine makes
the run print "noisy" next to its numbers rather than hang.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from graphc.backend.load import LoadMeter

POLL_S = 0.25  # one look at the load; also the gap in which thread pools go to sleep


@dataclass(frozen=True)
class Settings:
    blocks: int = 7          # timed blocks a median is taken over
    block_s: float = 0.2     # how long one block lasts (k calls)
    warmup_s: float = 0.3    # calls before timing: caches, thread pools, lazy compiles
    quiet: float = 0.15      # the most cores others may use during a kept block
    wait_budget_s: float = 60.0  # all the waiting for quiet and re-running, for the whole run


@dataclass(frozen=True)
class Timing:
    seconds: float      # median time per call over the kept blocks
    quiet_blocks: int
    wanted_blocks: int
    others: float       # median cores other processes used during the blocks

    @property
    def noisy(self) -> bool:
        return self.quiet_blocks < self.wanted_blocks


class Protocol:
    """The settings and what is left of the waiting budget; one per run."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.budget_s = settings.wait_budget_s

    def wait_quiet(self, max_s: float = 5.0) -> bool:
        """Sleep (so this process's own thread pools park too) until others use fewer than
        `quiet` cores over POLL_S, for at most max_s of the budget."""
        start = time.perf_counter()
        while True:
            meter = LoadMeter()
            time.sleep(POLL_S)
            waited = time.perf_counter() - start
            if meter.others() < self.settings.quiet:
                self.spend(waited - POLL_S)  # the first look is the gap every item gets
                return True
            if waited >= min(max_s, self.budget_s):
                self.spend(waited)
                return False

    def spend(self, seconds: float) -> None:
        self.budget_s = max(0.0, self.budget_s - seconds)

    def time_calls(self, call) -> Timing:
        """Median seconds per call of `call()` (which must block until its work is done)."""
        s = self.settings
        self.wait_quiet()
        per_call = _warm_up(call, s.warmup_s)
        k = max(1, round(s.block_s / per_call))
        quiet, noisy, others = [], [], []
        while len(quiet) < s.blocks:
            meter = LoadMeter()
            start = time.perf_counter()
            for _ in range(k):
                call()
            seconds = (time.perf_counter() - start) / k
            load = meter.others()
            others.append(load)
            (quiet if load < s.quiet else noisy).append(seconds)
            if load >= s.quiet:
                if self.budget_s <= 0 and len(quiet) + len(noisy) >= s.blocks:
                    break  # out of patience: what was measured is marked noisy
                self.spend(seconds * k)
                self.wait_quiet(max_s=1.0)
        # a median over fewer than three quiet blocks says little: then all blocks count
        kept = quiet if len(quiet) >= min(3, s.blocks) else quiet + noisy
        return Timing(statistics.median(kept), len(quiet), s.blocks, statistics.median(others))

    def time_once(self, run) -> tuple[float, float]:
        """(seconds, cores others used) of one `run()`, e.g. a subprocess: no repeats."""
        self.wait_quiet()
        meter = LoadMeter()
        start = time.perf_counter()
        run()
        return time.perf_counter() - start, meter.others()


def _warm_up(call, seconds: float) -> float:
    """Call until `seconds` have passed (at least twice; the first call may compile) and
    return the time per call of the calls after the first."""
    call()
    start, n = time.perf_counter(), 0
    while n < 2 or time.perf_counter() - start < seconds:
        call()
        n += 1
    return max((time.perf_counter() - start) / n, 1e-9)
