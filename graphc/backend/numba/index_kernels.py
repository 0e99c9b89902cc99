"""Kernel printers of the index ops: one_hot, arange, gathers and scatter-adds, argmax and
random_uniform, each returning readable Python source for `numba.njit` (kernels.py has the
elementwise kernels and reductions; graphc/backend/numba/driver.py registers `PRINTERS`).

A kernel reports what it cannot compute by returning 1, the driver raises ValueError
(graphc/backend/numba/entry.py), and that makes the runtime run
the reference to raise its own error, with the values and shapes in it
(graphc/backend/numba/runtime.py): a label out of range, an argmax over an empty axis, an
index computed in the graph that is out of range. Nothing is read or written out of bounds.
"""
from __future__ import annotations

import sympy

from ...lower.program import (ArangeKernel, ArgmaxKernel, GatherKernel, OneHotKernel,
                              RandomKernel)
from ...ops.random import BITS, GOLDEN
from .kernels import KernelSource, _acc_type, _finish, _init, _Writer, flat_read
from .reductions import _write_result
from .printer import Params, index, subscript


def _one_hot(k: OneHotKernel) -> KernelSource:
    params, w = Params(), _Writer()
    loops = [f"i{j}" for j in range(len(k.domain))]
    extents = [params.term(d, "n", axis) for axis, d in enumerate(k.domain)]
    for v, n in zip(loops[:-1], extents[:-1]):
        w.loop(v, n)
    # each label checked once, before its row of classes: also where there are no classes,
    # which a check inside the class loop never reached (a label of 0 with 0 classes)
    w.line(f"label = labels[{subscript(k.labels, loops, params)}]")
    w.line(f"if label < 0 or label >= {extents[-1]}:")
    w.depth += 1
    w.fail("one_hot: a class label is out of range")
    w.depth -= 1
    w.loop(loops[-1], extents[-1])
    value = f"label == {loops[-1]}"
    w.line(f"out[{subscript(k.out, loops, params)}] = "
           + (value if k.dtype == "bool" else f"np.{k.dtype}({value})"))
    ks = _finish(k.name, "one_hot: out[..., c] = labels[...] == c", params, ["labels", "out"], w)
    ks.arrays = [k.labels.buffer, k.out.buffer]
    return ks


def _arange(k: ArangeKernel) -> KernelSource:
    params, w = Params(), _Writer()
    w.loop("i0", params.term(k.domain[0], "n"))
    w.line(f"out[{subscript(k.out, ['i0'], params)}] = i0")
    ks = _finish(k.name, "arange: out[i] = i", params, ["out"], w)
    ks.arrays = [k.out.buffer]
    return ks


# ---- gathers and scatter-adds ----------------------------------------------------------------
def out_of_range(k: GatherKernel) -> str:
    """What a kernel checking its indices says of one out of range."""
    return f"{k.provenance[0]}: an index computed in the graph is out of range"


def gather_lines(k: GatherKernel, loops, params: Params, fault=None) -> list[str]:
    """The statements of a gather or scatter-add at loop indices `loops` (a negative index
    counts from the end); the CUDA printer's too, with its atomic add for a scatter. Where the
    indices are not known to be in range (`k.in_range`), an index out of range runs the
    lines `fault` instead of the read and write (here: the kernel returns 1, and the driver
    raises ValueError)."""
    n = params.term(k.axis_size, "n")
    moved = f"j*{params.term(k.axis_stride, 's')}" if k.axis_stride != 1 else "j"
    lines = [f"j = np.int64(index[{subscript(k.index, loops, params)}])",
             "if j < 0:", f"    j += {n}"]
    if k.scatter:
        access = (f"out[{index(k.out, loops, params)} + {moved}] += "
                  f"data[{index(k.data, loops, params)}]")
    else:
        access = (f"out[{index(k.out, loops, params)}] = "
                  f"data[{index(k.data, loops, params)} + {moved}]")
    if k.in_range:
        return lines + [access]
    fault = fault or [f"return 1  # {out_of_range(k)}"]
    guard = [f"if j < 0 or j >= {n}:  # an index computed in the graph: checked here"]
    if fault[0].startswith("return"):
        return lines + guard + ["    " + f for f in fault] + [access]
    return lines + guard + ["    " + f for f in fault] + ["else:", "    " + access]


def _gather(k: GatherKernel) -> KernelSource:
    params, w = Params(), _Writer()
    loops = [f"i{j}" for j in range(len(k.domain))]
    for axis, (v, d) in enumerate(zip(loops, k.domain)):
        w.loop(v, params.term(d, "n", axis))
    for line in gather_lines(k, loops, params):
        w.line(line)
    doc = ("scatter-add: out[i + index[i] along the axis] += data[i] (in order)" if k.scatter
           else "gather: out[i] = data[i + index[i] along the axis]")
    ks = _finish(k.name, f"{'+'.join(k.provenance)}: {doc}", params, ["index", "data", "out"], w)
    ks.arrays = [k.index.buffer, k.data.buffer, k.out.buffer]
    ks.faults = [] if k.in_range else [out_of_range(k)]
    return ks


# ---- argmax: a reduction carrying (value, position) --------------------------------------------
def first_maximum(t: str, v: str, m: str) -> str:
    """The condition that value `v` replaces the running maximum `m` of type `t`, read in
    order along the axis: greater, or the first NaN (NaN wins, as in np.argmax; a tie, and
    -0.0 against 0.0, keeps the earlier position)."""
    return f"{v} > {m}" + (f" or ({v} != {v} and {m} == {m})" if t.startswith("float") else "")


def _argmax(k: ArgmaxKernel) -> KernelSource:
    params, w = Params(), _Writer()
    rank, (axis,) = len(k.domain), k.axes
    loops = [f"i{j}" for j in range(rank)]
    extents = [params.term(d, "n", axis) for axis, d in enumerate(k.domain)]
    t = _acc_type("max", k.body.dtype)  # float16 compares as float32, exactly
    w.line(f"if {extents[axis]} == 0:")
    w.depth += 1
    w.fail("argmax: an empty axis has no maximum")
    w.depth -= 1
    for a in range(rank):
        if a != axis:
            w.loop(loops[a], extents[a])
    _init(w, "max", "m", t)
    w.line("arg = 0")
    w.loop(loops[axis], extents[axis])
    w.line(f"v = x0[{subscript(k.operands[0], loops, params)}]")
    w.line(f"if {first_maximum(t, 'v', 'm')}:")
    w.line(f"    m = {'v' if t == k.body.dtype else f'np.{t}(v)'}")
    w.line(f"    arg = {loops[axis]}")
    w.depth -= 1
    _write_result(w, k, loops, params, {}, "arg")
    ks = _finish(k.name, f"argmax along axis {axis}: the first maximum's position (NaN wins)",
                 params, ["x0", "out"], w,
                 ["the axis innermost: one (value, position) per output element"])
    ks.arrays = [k.operands[0].buffer, k.out.buffer]
    return ks


# ---- random_uniform: SplitMix64 of the flat index ----------------------------------------------
def random_lines(k: RandomKernel, params: Params, flat: str) -> tuple[list[str], list[str]]:
    """(the key's line, the lines computing element `flat`): graphc/ops/random.py's formulas,
    with the stream's multiple of GOLDEN worked out here. The CUDA printer's too."""
    salt = (k.stream * int(GOLDEN)) % 2 ** 64
    salt = f"{salt:#x}" if salt else "0"
    seed = flat_read("seed", k.seed, params)
    key = f"key = splitmix64(np.uint64(np.int64({seed})) ^ np.uint64({salt}), np.uint64(0))"
    return [key], [f"bits = splitmix64(key, np.uint64({flat} + 1))",
                   f"out[{flat}] = np.float32(bits >> np.uint64({64 - BITS})) / "
                   f"np.float32({float(2 ** BITS)})  # the top {BITS} bits, over 2**{BITS}"]


def _random(k: RandomKernel) -> KernelSource:
    params, w = Params(), _Writer()
    key, element = random_lines(k, params, "i")
    for line in key:
        w.line(line)
    w.loop("i", params.term(sympy.Mul(*k.domain) if k.domain else 1, "n"))
    for line in element:
        w.line(line)
    ks = _finish(k.name, f"random_uniform, stream {k.stream}: out[i] = SplitMix64's (i+1)-th "
                 f"output of key(seed, stream), its top {BITS} bits over 2**{BITS}",
                 params, ["seed", "out"], w)
    ks.arrays = [k.seed.buffer, k.out.buffer]
    ks.imports = ["from graphc.backend.numba.splitmix import splitmix64"]
    return ks


PRINTERS = {OneHotKernel: _one_hot, ArangeKernel: _arange, GatherKernel: _gather,
            ArgmaxKernel: _argmax, RandomKernel: _random}
