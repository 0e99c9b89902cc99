"""CUDA kernel printers: one function per kernel kind (functools.singledispatch on the kernel's
class), the second printer of the Program after graphc/backend/numba/kernels.py.

What is the same as on the CPU is the CPU's: bodies print with its `body_lines` (typed
np.float32(...) casts and literals; functions as the CUDA target has them, printer.py),
sizes and strides are its `Params` and accesses its `index`. What differs is how the
work is spread over threads:

- elementwise kernels: one thread per element in a grid-stride loop (a flat index,
  unravelled into the domain's indices where an operand is strided); so are one_hot,
  arange, gathers and random_uniform (index_kernels.py, with argmax);
- reductions and softmax / log_softmax: a block of (tx, ty) threads per group of tx output
  rows; the ty threads of a row each reduce a strided part of it, then combine their
  partials in a tree in shared memory (the last 32 with warp shuffles on a GPU). Reduced
  axes innermost (a row sum) use (1, threads): consecutive threads read consecutive elements.
  Reduced axes outermost (a column sum) use (32, 8) on a GPU: consecutive threads read
  consecutive outputs' elements.

Each printer returns a `CudaKernel`: the source of `def KERNEL(...)` (module.py names it),
its array and integer arguments, and what the runtime needs to launch it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy

from ...lower.program import ElementwiseKernel, NormalizeKernel, ReduceKernel
from ..numba.kernels import _acc_type, _contiguous_over, _dims_of, _Writer, flat_read
from ..numba.reductions import _write_result, reduction_frame
from ..numba.printer import Params, index
from ..numba.printer import body_lines as cpu_body_lines
from .printer import DevicePrinter

JIT = "@cuda.jit(cache=True)"
# the one-element int32 device array a kernel that checks its indices sets to 1 on finding
# one out of range (a kernel cannot raise): an array argument of that name, not a buffer
FAULT = "fault"
SHUFFLE_TYPES = ("int32", "int64", "float32", "float64")  # what cuda.shfl_down_sync moves


@dataclass
class CudaKernel:
    name: str
    sources: list                # `def KERNEL` source per variant (one, or one per tile size)
    arrays: list                 # buffer names, in argument order
    ints: list                   # sympy expressions of the int parameters, in order
    launch: list                 # sympy expressions the launch configuration is computed from
    shape: str                   # "flat" (launch: n) | "rows" (n_out, n_red) | "tiles"
    block: tuple = ()            # "rows": the (tx, ty) block the kernel is printed for
    variants: list = field(default_factory=list)  # "tiles": a Tiles per source
    empty_error: str | None = None  # raised on the host when the reduced extent is 0
    fault: str | None = None     # what the kernel setting the FAULT flag means (an index out
                                 # of range), raised on the host after the launches
    shuffles: bool = False       # "rows": warp shuffles, so at least 32 threads along y
    notes: list = field(default_factory=list)


def body_lines(body, operand_texts, dims, prefix: str = "v"):
    """The CPU's statement lines, with the device's functions (printer.py)."""
    return cpu_body_lines(body, operand_texts, dims, prefix, printer=DevicePrinter())


def _np(dtype: str) -> str:
    """The NumPy scalar type's name in kernel source (np.bool_: NumPy 1 has no np.bool)."""
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def _header(w: _Writer, doc: str, arrays, params: Params) -> str:
    head = [JIT, f"def KERNEL({', '.join(arrays + params.names)}):", f'    """{doc}"""']
    return "\n".join(head + w.lines) + "\n"


def _unravel(w: _Writer, flat: str, loops, extents) -> None:
    """loops (row-major over extents) from the flat index `flat`."""
    if not loops:
        return
    if len(loops) == 1:
        w.line(f"{loops[0]} = {flat}")
        return
    w.line(f"q = {flat}")
    for v, e in zip(reversed(loops[1:]), reversed(extents[1:])):
        w.line(f"{v} = q % {e}")
        w.line(f"q = q // {e}")
    w.line(f"{loops[0]} = q")


@functools.singledispatch
def print_kernel(kernel, target) -> CudaKernel:
    raise NotImplementedError(f"the cuda printer has no kernel for {type(kernel).__name__}")


# ---- elementwise: a thread per element ------------------------------------------------------
@print_kernel.register
def _(k: ElementwiseKernel, target) -> CudaKernel:
    params, w = Params(), _Writer()
    dims = {d: params.term(d, "d") for d in _dims_of(k.body)}
    arrays = [f"x{j}" for j in range(len(k.operands))] + ["out"]
    numel = sympy.Mul(*k.domain) if k.domain else sympy.Integer(1)
    flat = all(_contiguous_over(a, k.domain) for a in k.operands + (k.out,))
    w.line(f"for i in range(cuda.grid(1), {params.term(numel, 'n')}, cuda.gridsize(1)):")
    w.depth += 1
    if flat:
        reads = [flat_read(f"x{j}", a, params) for j, a in enumerate(k.operands)]
        target_ = flat_read("out", k.out, params)
    else:
        loops = [f"i{j}" for j in range(len(k.domain))]
        _unravel(w, "i", loops, [params.term(d, "n") for d in k.domain])
        reads = [f"x{j}[{index(a, loops, params)}]" for j, a in enumerate(k.operands)]
        target_ = f"out[{index(k.out, loops, params)}]"
    for j, r in enumerate(reads):
        w.line(f"a{j} = {r}")
    lines, result = body_lines(k.body, [f"a{j}" for j in range(len(reads))], dims)
    for ln in lines:
        w.line(ln)
    w.line(f"{target_} = {result}")
    what = " ".join(k.body.lines()[:-1]) or "copy"
    src = _header(w, f"{'+'.join(k.provenance)}: {what}", arrays, params)
    return CudaKernel(k.name, [src], [a.buffer for a in k.operands] + [k.out.buffer],
                      list(params.exprs), [numel], "flat",
                      notes=["grid-stride, one flat index" if flat else
                             "grid-stride, flat index unravelled for strided operands"])


# ---- block tree reductions ---------------------------------------------------------------------
def _block(target, trailing: bool) -> tuple:
    """(tx, ty) of a row kernel: one row, its elements along y, when the reduced axes are
    innermost; else up to 32 rows (a warp) along x and each row's elements along y."""
    if trailing:
        return (1, target.threads)
    tx = min(32, target.threads // 4)
    return (tx, target.threads // tx)


def _shuffles(target, block, types) -> bool:
    """Whether a row kernel ends its tree with warp shuffles: on a GPU, for one row per block
    of at least a warp, and values cuda.shfl_down_sync can move."""
    return target.shuffles and block[0] == 1 and block[1] >= 32 and \
        all(t in SHUFFLE_TYPES for t in types)


def _block_reduce(w: _Writer, state, shared, merge, shuffle: bool) -> None:
    """Combine every thread's partial (the locals `state`) down each column of the block:
    a tree over y in shared memory, then warp shuffles for the last 32 when `shuffle` (the
    runtime then launches at least 32 threads along y, one warp per column). Thread ty == 0
    ends with the column's result in `state`."""
    other = [f"{v}2" for v in state]
    for v, s in zip(state, shared):
        w.line(f"{s}[ty, tx] = {v}")
    w.line("cuda.syncthreads()")
    w.line("h = cuda.blockDim.y // 2")
    w.line(f"while h > {16 if shuffle else 0}:")
    w.depth += 1
    w.line("if ty < h:")
    w.depth += 1
    for o, s in zip(other, shared):
        w.line(f"{o} = {s}[ty + h, tx]")
    merge(w, state, other)
    for v, s in zip(state, shared):
        w.line(f"{s}[ty, tx] = {v}")
    w.depth -= 1
    w.line("cuda.syncthreads()")
    w.line("h //= 2")
    w.depth -= 1
    if shuffle:
        w.line("if ty < 32:  # the first warp: its lanes hold the last 32 partials")
        w.depth += 1
        w.line("h = 16")
        w.line("while h > 0:")
        w.depth += 1
        for o, v in zip(other, state):
            w.line(f"{o} = cuda.shfl_down_sync(0xFFFFFFFF, {v}, h)")
        merge(w, state, other)
        w.line("h //= 2")
        w.depth -= 2


def _broadcast(w: _Writer, state, shared) -> None:
    """Thread ty == 0's result to every thread of its column."""
    w.line("if ty == 0:")
    for v, s in zip(state, shared):
        w.line(f"    {s}[0, tx] = {v}")
    w.line("cuda.syncthreads()")
    for v, s in zip(state, shared):
        w.line(f"{v} = {s}[0, tx]")


def _init(w: _Writer, reduce: str, t: str) -> None:
    """A reduction's identity: 0 (a sum of -0.0 is 0.0, as in NumPy and torch), -inf / the
    type's minimum, or the empty log-sum-exp."""
    if reduce == "logsumexp":
        w.line("m = np.float64(-np.inf)")
        w.line("s = np.float64(0)")
    elif reduce == "sum":
        w.line(f"acc = np.{t}(0)")
    elif t == "bool":
        w.line(f"acc = {reduce == 'min'}")
    elif t.startswith("float"):
        w.line(f"acc = np.{t}({'-' if reduce == 'max' else ''}np.inf)")
    else:
        info = np.iinfo(t)
        w.line(f"acc = np.{t}({info.min if reduce == 'max' else info.max})")


def _accumulate(w: _Writer, reduce: str, t: str, v: str) -> None:
    """Fold one value into the thread's partial (NaN wins a max, as in NumPy; the log-sum-exp
    keeps the running maximum m and the sum s of exp(v - m))."""
    if reduce == "sum":
        w.line(f"acc += np.{t}({v})")
    elif reduce in ("max", "min"):
        cmp = ">" if reduce == "max" else "<"
        nan = f" or {v} != {v}" if t.startswith("float") else ""
        w.line(f"if {v} {cmp} acc{nan}:")
        w.line(f"    acc = {'bool' if t == 'bool' else 'np.' + t}({v})")
    else:
        w.line(f"vv = np.float64({v})")
        w.line("if vv > m:")
        w.line("    s = s * math.exp(m - vv) + np.float64(1)")
        w.line("    m = vv")
        w.line("elif vv != -np.inf:  # an equal maximum adds exp(0) (two +inf give +inf)")
        w.line("    s += np.float64(1) if vv == m else math.exp(vv - m)")


def _merger(reduce: str, t: str):
    """Lines that fold another thread's partial (names `b`) into this one's (`a`)."""
    def merge(w, a, b):
        if reduce == "sum":
            w.line(f"{a[0]} += {b[0]}")
        elif reduce in ("max", "min"):
            cmp = ">" if reduce == "max" else "<"
            nan = f" or {b[0]} != {b[0]}" if t.startswith("float") else ""
            w.line(f"if {b[0]} {cmp} {a[0]}{nan}:")
            w.line(f"    {a[0]} = {b[0]}")
        else:
            (m, s), (m2, s2) = a, b
            w.line(f"if {m2} > {m}:")
            w.line(f"    {m}, {s}, {m2}, {s2} = {m2}, {s2}, {m}, {s}")
            w.line(f"if {s2} != 0:  # (a NaN sum propagates)")
            w.line(f"    {s} += {s2} * (np.float64(1) if {m2} == {m} else math.exp({m2} - {m}))")
    return merge


def _final(reduce: str) -> str:
    return "m + math.log(s)" if reduce == "logsumexp" else "acc"


def _rows(w: _Writer, block, n_out: str, loops, kept, extents) -> None:
    """The loop over groups of block[0] output rows (grid-stride), `o` this thread's row."""
    tx_count = block[0]
    w.line(f"for o0 in range(cuda.blockIdx.x * {tx_count}, {n_out}, "
           f"cuda.gridDim.x * {tx_count}):")
    w.depth += 1
    w.line("o = o0 + tx")
    _unravel(w, "o", [loops[a] for a in kept], [extents[a] for a in kept])


@print_kernel.register
def _(k: ReduceKernel, target) -> CudaKernel:
    params, w, dims, arrays, kept, loops, extents = reduction_frame(k)
    n_out_expr = sympy.Mul(*[k.domain[a] for a in kept]) if kept else sympy.Integer(1)
    n_red_expr = sympy.Mul(*[k.domain[a] for a in k.axes]) if k.axes else sympy.Integer(1)
    n_out, n_red = params.term(n_out_expr, "n"), params.term(n_red_expr, "n")
    t = _acc_type(k.reduce, k.acc_dtype)
    trailing = all(a > b for a in k.axes for b in kept)
    block = _block(target, trailing)
    state = ("m", "s") if k.reduce == "logsumexp" else ("acc",)
    types = ("float64", "float64") if k.reduce == "logsumexp" else (t,)
    shuffle = _shuffles(target, block, types)
    shared = [f"sh_{v}" for v in state]
    for s, x in zip(shared, types):
        w.line(f"{s} = cuda.shared.array(({block[1]}, {block[0]}), {_np(x)})")
    w.line("tx = cuda.threadIdx.x")
    w.line("ty = cuda.threadIdx.y")
    _rows(w, block, n_out, loops, kept, extents)
    _init(w, k.reduce, t)
    w.line(f"if o < {n_out}:")
    w.depth += 1
    w.line(f"for j in range(ty, {n_red}, cuda.blockDim.y):")
    w.depth += 1
    _unravel(w, "j", [loops[a] for a in k.axes], [extents[a] for a in k.axes])
    for j, a in enumerate(k.operands):
        w.line(f"a{j} = x{j}[{index(a, loops, params)}]")
    lines, result = body_lines(k.body, [f"a{j}" for j in range(len(k.operands))], dims)
    for ln in lines:
        w.line(ln)
    _accumulate(w, k.reduce, t, result)
    w.depth -= 2
    _block_reduce(w, state, shared, _merger(k.reduce, t), shuffle)
    w.line(f"if ty == 0 and o < {n_out}:")
    w.depth += 1
    _write_result(w, k, loops, params, dims, _final(k.reduce), printer=DevicePrinter())
    w.depth -= 1
    w.line("cuda.syncthreads()  # the shared partials are reused by the next rows")
    what = " ".join(k.body.lines()[:-1])
    src = _header(w, f"{'+'.join(k.provenance)}: {k.reduce} over axes {list(k.axes)} of "
                  f"{what or 'x0'}", arrays, params)
    empty = (f"{k.reduce}: a maximum or minimum over no elements is undefined"
             if k.reduce in ("max", "min") else None)
    return CudaKernel(k.name, [src], [a.buffer for a in k.operands] +
                      [e.buffer for e in k.extras] + [k.out.buffer], list(params.exprs),
                      [n_out_expr, n_red_expr], "rows", block=block, empty_error=empty,
                      shuffles=shuffle,
                      notes=[f"block tree reduction, {block[0]}x{block[1]} threads"
                             + (", warp shuffles" if shuffle else "")])


# ---- softmax, log_softmax: three passes over each row in one block -----------------------------
@print_kernel.register
def _(k: NormalizeKernel, target) -> CudaKernel:
    params, w = Params(), _Writer()
    rank = len(k.domain)
    loops = [f"i{j}" for j in range(rank)]
    extents = [params.term(d, "n") for d in k.domain]
    kept = [a for a in range(rank) if a != k.axis]
    n_rows_expr = sympy.Mul(*[k.domain[a] for a in kept]) if kept else sympy.Integer(1)
    n_rows, n = params.term(n_rows_expr, "n"), extents[k.axis]
    t = k.dtype
    block = _block(target, k.axis == rank - 1)
    shuffle = _shuffles(target, block, (t, "int64"))
    src, dst = (f"x[{index(k.operand, loops, params)}]",
                f"out[{index(k.out, loops, params)}]")
    for s, x in (("sh_m", t), ("sh_arg", "int64"), ("sh_s", t)):
        w.line(f"{s} = cuda.shared.array(({block[1]}, {block[0]}), {_np(x)})")
    w.line("tx = cuda.threadIdx.x")
    w.line("ty = cuda.threadIdx.y")
    _rows(w, block, n_rows, loops, kept, extents)
    ax = loops[k.axis]

    def each(body):
        w.line(f"if o < {n_rows}:")
        w.line(f"    for {ax} in range(ty, {n}, cuda.blockDim.y):")
        w.depth += 2
        body()
        w.depth -= 2

    w.line(f"m = np.{t}(-np.inf)")
    w.line("arg = 0")

    def find_max():
        w.line(f"v = {src}")
        w.line("if v > m or v != v:  # the first maximum (NaN wins)")
        w.line("    m = v")
        w.line(f"    arg = {ax}")
    each(find_max)

    def first_max(w_, a, b):
        (m, arg), (m2, arg2) = a, b
        w_.line(f"if {m2} > {m} or ({m2} == {m} and {arg2} < {arg}) or {m2} != {m2}:")
        w_.line(f"    {m} = {m2}")
        w_.line(f"    {arg} = {arg2}")
    _block_reduce(w, ("m", "arg"), ("sh_m", "sh_arg"), first_max, shuffle)
    _broadcast(w, ("m", "arg"), ("sh_m", "sh_arg"))
    # log_softmax leaves the maximum's own exp(0) = 1 out of the sum (log1p below): its term
    # is exp(0) - 1 = 0, NaN where the maximum is +inf (a NaN row, as the reference's)
    w.line(f"s = {'m - m' if k.op == 'log_softmax' else f'np.{t}(0)'}")

    def exp_sum():
        w.line(f"e = math.exp({src} - m)")
        if k.op == "log_softmax":  # the maximum's own exp(0) = 1 is left out: log1p below
            w.line(f"if {ax} != arg:")
            w.line("    s += e")
        else:
            w.line("s += e")
            w.line(f"{dst} = e")
    each(exp_sum)
    _block_reduce(w, ("s",), ("sh_s",), _merger("sum", t), shuffle)
    _broadcast(w, ("s",), ("sh_s",))
    if k.op == "log_softmax":
        w.line("ls = math.log1p(s)")
        each(lambda: w.line(f"{dst} = ({src} - m) - ls"))
    else:
        each(lambda: w.line(f"{dst} = {dst} / s"))
    w.line("cuda.syncthreads()  # the shared values are reused by the next rows")
    doc = ("exp(z - max) / sum(exp(z - max))" if k.op == "softmax" else
           "(z - max) - log1p(sum of exp(z - max) but the max's)")
    source = _header(w, f"{k.op} along axis {k.axis}: {doc}", ["x", "out"], params)
    return CudaKernel(k.name, [source], [k.operand.buffer, k.out.buffer], list(params.exprs),
                      [n_rows_expr, k.domain[k.axis]], "rows", block=block, shuffles=shuffle,
                      notes=[f"a block per {block[0]} row(s), {block[0]}x{block[1]} threads"
                             + (", warp shuffles" if shuffle else "")])
