"""Kernel printers of the reductions (sum, max, min, logsumexp and their fused forms, with a
prologue body before and an epilogue after) and of softmax and log_softmax, each returning
readable Python source for `numba.njit` (kernels.py has what the printers share; see its
docstring).
"""
from __future__ import annotations

import sympy

from ...lower.program import NormalizeKernel, ReduceKernel
from .kernels import (PARALLEL_FROM, KernelSource, _acc_type, _combine, _dims_of, _final,
                      _finish, _init, _may_split, _Writer, print_kernel)
from .printer import Params, body_lines, calls_transcendental, subscript


def reduction_frame(k: ReduceKernel) -> tuple:
    """What a reduction's printer starts from, on either backend (the cuda printer too):
    (params, line writer, the dims its bodies read, its array parameters, the kept axes, a
    loop variable and an extent per axis of its domain)."""
    params, w = Params(), _Writer()
    dims = {d: params.term(d, "d") for d in _dims_of(k.body, k.epilogue)}
    arrays = [f"x{j}" for j in range(len(k.operands))] + \
        [f"e{j}" for j in range(len(k.extras))] + ["out"]
    kept = [a for a in range(len(k.domain)) if a not in k.axes]
    loops = [f"i{j}" for j in range(len(k.domain))]
    extents = [params.term(d, "n", axis) for axis, d in enumerate(k.domain)]
    return params, w, dims, arrays, kept, loops, extents


@print_kernel.register
def _(k: ReduceKernel) -> KernelSource:
    params, w, dims, arrays, kept, loops, extents = reduction_frame(k)
    rank = len(k.domain)
    acc_type = _acc_type(k.reduce, k.acc_dtype)
    trailing = all(a > b for a in k.axes for b in kept)
    if k.reduce in ("max", "min"):
        w.line(f"if {' * '.join(extents[a] for a in k.axes) or '1'} == 0:")
        w.depth += 1
        w.fail(f"{k.reduce}: a maximum or minimum over no elements is undefined")
        w.depth -= 1
    if trailing:
        # one output element at a time: the reduced axes are innermost
        for a in kept:
            w.loop(loops[a], extents[a])
        _init(w, k.reduce, "acc", acc_type)
        for a in k.axes:
            w.loop(loops[a], extents[a])
        _prologue_value(w, k, loops, params, dims)
        _combine(w, k.reduce, "acc", "p", acc_type)
        w.depth -= len(k.axes)
        _write_result(w, k, loops, params, dims, _final(k.reduce, "acc"))
        notes = ["reduced axes innermost: one accumulator per output element"]
    else:
        # reduced axes outside kept ones (a column sum): accumulate a row of outputs at once
        n_out = params.term(sympy.Mul(*[k.domain[a] for a in kept]) if kept else 1, "n")
        out_index = subscript(type(k.out)(k.out.buffer, k.out.strides), loops, params)
        if k.reduce == "logsumexp":  # a running maximum and sum per output, in float64
            w.line(f"mm = scratch({n_out}, np.float64)")
            w.line(f"ss = scratch({n_out}, np.float64)")
            w.loop("j", n_out)
            w.line("mm[j] = -np.inf")
            w.line("ss[j] = 0.0")
        else:
            w.line(f"accs = scratch({n_out}, np.{acc_type})")
            w.loop("j", n_out)
            _init(w, k.reduce, "accs[j]", acc_type)
        w.depth -= 1
        for a in range(rank):
            w.loop(loops[a], extents[a])
        _prologue_value(w, k, loops, params, dims)
        w.line(f"j = {out_index}")
        if k.reduce == "logsumexp":
            w.line("m = mm[j]")
            w.line("s = ss[j]")
            _combine(w, k.reduce, "acc", "p", acc_type)
            w.line("mm[j] = m")
            w.line("ss[j] = s")
        else:
            w.line("acc = accs[j]")
            _combine(w, k.reduce, "acc", "p", acc_type)
            w.line("accs[j] = acc")
        w.depth -= rank
        for a in kept:
            w.loop(loops[a], extents[a])
        w.line(f"j = {out_index}")
        if k.reduce == "logsumexp":
            w.line("m = mm[j]")
            w.line("s = ss[j]")
        else:
            w.line("acc = accs[j]")
        _write_result(w, k, loops, params, dims, _final(k.reduce, "acc"), index_name="j")
        notes = ["reduced axes outermost: a row of accumulators"]
    # one output element per iteration of the outer loop: its iterations can be split
    parallel = trailing and bool(kept) and _may_split(
        k.domain, calls_transcendental(k.body) or k.reduce == "logsumexp")
    if parallel:
        w.split_outer(extents, k.domain)
        notes.append(f"split across threads from {PARALLEL_FROM} elements")
    what = " ".join(k.body.lines()[:-1])
    ks = _finish(k.name, f"{'+'.join(k.provenance)}: {k.reduce} over axes {list(k.axes)} of "
                 f"{what or 'x0'}", params, arrays, w, notes)
    ks.arrays = [a.buffer for a in k.operands] + [e.buffer for e in k.extras] + [k.out.buffer]
    return ks


def _prologue_value(w, k, loops, params, dims):
    for j, a in enumerate(k.operands):
        w.line(f"a{j} = x{j}[{subscript(a, loops, params)}]")
    lines, result = body_lines(k.body, [f"a{j}" for j in range(len(k.operands))], dims)
    for ln in lines:
        w.line(ln)
    w.line(f"p = {result}")


def _write_result(w, k, loops, params, dims, value: str, index_name: str | None = None,
                  printer=None):
    w.line(f"r = np.{k.acc_dtype}({value})")
    result = "r"
    if k.epilogue is not None:
        for j, e in enumerate(k.extras):
            w.line(f"b{j} = e{j}[{subscript(e, loops, params)}]")
        lines, result = body_lines(k.epilogue, ["r"] + [f"b{j}" for j in range(len(k.extras))],
                                   dims, prefix="u", printer=printer)
        for ln in lines:
            w.line(ln)
    target = index_name or subscript(k.out, loops, params)
    w.line(f"out[{target}] = {result}")


# ---- softmax, log_softmax --------------------------------------------------------------------
@print_kernel.register
def _(k: NormalizeKernel) -> KernelSource:
    params, w = Params(), _Writer()
    rank = len(k.domain)
    loops = [f"i{j}" for j in range(rank)]
    extents = [params.term(d, "n", axis) for axis, d in enumerate(k.domain)]
    for a in range(rank):
        if a != k.axis:
            w.loop(loops[a], extents[a])
    ax, n = loops[k.axis], extents[k.axis]
    src = f"x[{subscript(k.operand, loops, params)}]"
    dst = f"out[{subscript(k.out, loops, params)}]"
    t = k.dtype
    w.line(f"m = np.{t}(-np.inf)")
    w.line("arg = 0")
    w.loop(ax, n)
    w.line(f"v = {src}")
    w.line("if v > m or v != v:  # the first maximum (NaN wins)")
    w.line("    m = v")
    w.line(f"    arg = {ax}")
    w.depth -= 1
    # the exponentials into the result first, a loop of their own, which LLVM runs on vectors
    # with vmath.py's exp for float32 (libm's is a call per element: a softmax over (32, 4,
    # 32, 32) took 0.5 ms); then their sum, in the same order as before
    vector_exp = t == "float32"
    w.loop(ax, n)
    w.line(f"z = {src} - m")
    w.line(f"{dst} = {'np.float32(exp64(np.float64(z)))' if vector_exp else 'np.exp(z)'}")
    w.depth -= 1
    # log_softmax leaves the maximum's own exp(0) = 1 out of the sum (log1p below): its term
    # is exp(0) - 1 = 0, NaN where the maximum is +inf (a NaN row, as the reference's)
    w.line(f"s = {'m - m' if k.op == 'log_softmax' else f'np.{t}(0)'}")
    w.loop(ax, n)
    if k.op == "log_softmax":
        w.line(f"if {ax} != arg:")
        w.line(f"    s += {dst}")
    else:
        w.line(f"s += {dst}")
    w.depth -= 1
    if k.op == "log_softmax":
        w.line("ls = np.log1p(s)")
        w.loop(ax, n)
        w.line(f"{dst} = ({src} - m) - ls")
    else:
        w.loop(ax, n)
        w.line(f"{dst} = {dst} / s")
    w.depth -= 1
    doc = ("exp(z - max) / sum(exp(z - max))" if k.op == "softmax" else
           "(z - max) - log1p(sum of exp(z - max) but the max's)")
    # the outer loop (over another axis) computes whole rows: its iterations can be split
    parallel = rank > 1 and _may_split(k.domain, transcendental=True)  # exp per element
    if parallel:
        w.split_outer(extents, k.domain)
    ks = _finish(k.name, f"{k.op} along axis {k.axis}: {doc}", params, ["x", "out"], w,
                 [f"split across threads from {PARALLEL_FROM} elements"] if parallel else [])
    ks.arrays = [k.operand.buffer, k.out.buffer]
    ks.imports = ["from graphc.backend.numba.vmath import exp64"] if vector_exp else []
    return ks
