"""The memory plan: temporaries share storage when their lifetimes do not overlap.

Liveness: a temporary lives from the kernel that writes it to the last kernel that reads it.
Walking the kernels in order, a temporary takes the storage of a dead one of the same dtype
and size (sizes are symbolic: equal expressions), else a new slot. Slots sit at 64-byte
aligned offsets in one workspace that a compiled function allocates once per set of dim sizes
and reuses across calls. Inputs are never written; outputs are fresh arrays every call (a
result handed back is never overwritten by a later call), so neither is in the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy

ALIGN = 64


@dataclass
class MemoryPlan:
    slot_of: dict = field(default_factory=dict)     # temp buffer name -> slot index
    slots: list = field(default_factory=list)       # (dtype, numel) per slot
    offsets: list = field(default_factory=list)     # byte offset per slot (symbolic)
    total: sympy.Expr = sympy.Integer(0)            # workspace bytes (symbolic)
    live: dict = field(default_factory=dict)        # temp name -> (first kernel, last kernel)

    def describe(self) -> str:
        shared = len(self.slot_of) - len(self.slots)
        return (f"{len(self.slot_of)} temporaries in {len(self.slots)} slots "
                f"({shared} reuse a dead buffer), workspace {self.total} bytes")


def _aligned(nbytes) -> sympy.Expr:
    """`nbytes` rounded up to a multiple of ALIGN. sympy's ceiling, evaluated, asks the dims'
    assumptions whether it can simplify (2-5 ms a call: 15 ms of the big MLP's warm first
    step); what it could simplify, a number or a multiple of ALIGN, is done here first."""
    nbytes = sympy.sympify(nbytes)
    if nbytes.is_Integer:
        return sympy.Integer(-(-int(nbytes) // ALIGN) * ALIGN)
    coeff, rest = nbytes.as_coeff_Mul()
    if coeff.is_Integer and int(coeff) % ALIGN == 0 and rest.is_integer:
        return nbytes
    return sympy.ceiling(nbytes / ALIGN, evaluate=False) * ALIGN


def plan_memory(program) -> MemoryPlan:
    temps = {n: b for n, b in program.buffers.items() if b.role == "temp"}
    first, last = {}, {}
    for k, kernel in enumerate(program.kernels):
        for name in kernel.writes():
            if name in temps:
                first.setdefault(name, k)
                last[name] = max(last.get(name, k), k)
        for name in kernel.reads():
            if name in temps:
                last[name] = k
    plan = MemoryPlan(live={n: (first[n], last[n]) for n in first})
    free: list[int] = []
    ending: dict[int, list] = {}
    for name in sorted(first, key=lambda n: (first[n], n)):
        start = first[name]
        for k in sorted(ending):
            if k < start:  # dead before this one is written: its slot is free again
                free.extend(ending.pop(k))
        buf = temps[name]
        key = (buf.dtype, buf.numel)
        slot = next((s for s in free if plan.slots[s] == key), None)
        if slot is None:
            slot = len(plan.slots)
            plan.slots.append(key)
        else:
            free.remove(slot)
        plan.slot_of[name] = slot
        ending.setdefault(last[name], []).append(slot)
    offset = sympy.Integer(0)
    for dtype, numel in plan.slots:
        plan.offsets.append(offset)
        offset = offset + _aligned(numel * _itemsize(dtype))
    plan.total = offset
    return plan


def _itemsize(dtype: str) -> int:
    import numpy as np
    return np.dtype(dtype).itemsize


def check(program) -> None:
    """Raise if two temporaries that share a slot are alive at once (one written before the
    other's last read): the plan's one invariant, checked by the tests on real programs."""
    plan = program.plan
    by_slot: dict = {}
    for name, slot in plan.slot_of.items():
        by_slot.setdefault(slot, []).append(name)
    for slot, names in by_slot.items():
        spans = sorted(plan.live[n] + (n,) for n in names)
        for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
            if s2 <= e1:
                raise AssertionError(f"memory plan: {n2} (written by kernel {s2}) reuses slot "
                                     f"{slot} while {n1} is read until kernel {e1}")
