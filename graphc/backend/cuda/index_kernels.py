"""CUDA printers of the index ops: one_hot, arange, gathers and scatter-adds, random_uniform
(a thread per element, grid-stride) and argmax (a block tree reduction of (value, position)
pairs, as kernels.py reduces). Their statements are the CPU printer's
(graphc/backend/numba/index_kernels.py); graphc/backend/cuda/module.py registers `PRINTERS`.

A kernel cannot raise. A gather whose indices the graph computes (and that are not known to
be in range) sets the FAULT flag on finding one out of range, reading and writing nothing for
it; the runtime raises after the launches (graphc/backend/cuda/runtime.py). An argmax over an
empty axis is found on the host before any launch, from the launch extents.
"""
from __future__ import annotations

import sympy

from ...lower.program import (ArangeKernel, ArgmaxKernel, GatherKernel, OneHotKernel,
                              RandomKernel)
from ..numba.index_kernels import first_maximum, gather_lines, out_of_range, random_lines
from ..numba.kernels import _acc_type, _Writer
from ..numba.reductions import _write_result
from ..numba.printer import Params, index
from .kernels import (FAULT, CudaKernel, _block, _block_reduce, _header, _init, _np, _rows,
                      _shuffles, _unravel)
from .printer import DevicePrinter


def _grid_stride(w: _Writer, params: Params, numel) -> None:
    w.line(f"for i in range(cuda.grid(1), {params.term(numel, 'n')}, cuda.gridsize(1)):")
    w.depth += 1


def _per_element(k, arrays, doc: str, statements, fault: str | None = None) -> CudaKernel:
    """A thread per element of k.domain (grid-stride), its indices unravelled, running
    `statements(loops, params)`."""
    params, w = Params(), _Writer()
    loops = [f"i{j}" for j in range(len(k.domain))]
    numel = sympy.Mul(*k.domain) if k.domain else sympy.Integer(1)
    _grid_stride(w, params, numel)
    _unravel(w, "i", loops, [params.term(d, "n") for d in k.domain])
    for line in statements(loops, params):
        w.line(line)
    src = _header(w, doc, list(arrays), params)
    return CudaKernel(k.name, [src], list(arrays.values()), list(params.exprs), [numel],
                      "flat", fault=fault, notes=["grid-stride"])


def _one_hot(k: OneHotKernel, target) -> CudaKernel:
    def statements(loops, params):
        value = f"label == {loops[-1]}"
        return [f"label = labels[{index(k.labels, loops, params)}]",
                f"out[{index(k.out, loops, params)}] = "
                + (value if k.dtype == "bool" else f"np.{k.dtype}({value})")]
    return _per_element(k, {"labels": k.labels.buffer, "out": k.out.buffer},
                        "one_hot: out[..., c] = labels[...] == c (labels checked on the host)",
                        statements)


def _arange(k: ArangeKernel, target) -> CudaKernel:
    return _per_element(k, {"out": k.out.buffer}, "arange: out[i] = i", lambda loops, params:
                        [f"out[{index(k.out, loops, params)}] = i0"])


def _gather(k: GatherKernel, target) -> CudaKernel:
    def statements(loops, params):
        lines = gather_lines(k, loops, params, fault=[f"{FAULT}[0] = np.int32(1)  # reported "
                                                      f"on the host after the launches"])
        if k.scatter:  # threads may add into one element: atomically
            last = lines[-1]
            indent = last[:len(last) - len(last.lstrip())]
            target_, value = last.strip().split(" += ")
            lines[-1] = f"{indent}cuda.atomic.add(out, {target_[4:-1]}, {value})"
        return lines
    doc = ("scatter-add: out[i + index[i] along the axis] += data[i], atomically" if k.scatter
           else "gather: out[i] = data[i + index[i] along the axis]")
    arrays = {"index": k.index.buffer, "data": k.data.buffer, "out": k.out.buffer}
    if not k.in_range:
        arrays[FAULT] = FAULT
    return _per_element(k, arrays, f"{'+'.join(k.provenance)}: {doc}", statements,
                        None if k.in_range else out_of_range(k))


def _random(k: RandomKernel, target) -> CudaKernel:
    params, w = Params(), _Writer()
    key, element = random_lines(k, params, "i")
    for line in key:
        w.line(line)
    numel = sympy.Mul(*k.domain) if k.domain else sympy.Integer(1)
    _grid_stride(w, params, numel)
    for line in element:
        w.line(line)
    src = _header(w, f"random_uniform, stream {k.stream}: out[i] = SplitMix64's (i+1)-th "
                  f"output of key(seed, stream), its top 24 bits over 2**24",
                  ["seed", "out"], params)
    src = "from graphc.backend.cuda.splitmix import splitmix64\n\n\n" + src
    return CudaKernel(k.name, [src], [k.seed.buffer, k.out.buffer], list(params.exprs),
                      [numel], "flat", notes=["grid-stride, one flat index"])


# ---- argmax: a block tree reduction of (value, position) ---------------------------------------
def _first_of(t: str):
    """Lines that take another thread's partial (acc2, arg2) where it comes first: a greater
    value, an equal one at an earlier position, or a NaN (the earlier NaN between two). A
    thread that saw no element holds position n, after every real one."""
    def merge(w, a, b):
        (m, arg), (m2, arg2) = a, b
        nan = f" or ({m2} != {m2} and ({m} == {m} or {arg2} < {arg}))" \
            if t.startswith("float") else ""
        w.line(f"if {m2} > {m} or ({m2} == {m} and {arg2} < {arg}){nan}:")
        w.line(f"    {m} = {m2}")
        w.line(f"    {arg} = {arg2}")
    return merge


def _argmax(k: ArgmaxKernel, target) -> CudaKernel:
    params, w = Params(), _Writer()
    rank, (axis,) = len(k.domain), k.axes
    kept = [a for a in range(rank) if a != axis]
    loops = [f"i{j}" for j in range(rank)]
    extents = [params.term(d, "n") for d in k.domain]
    n_out_expr = sympy.Mul(*[k.domain[a] for a in kept]) if kept else sympy.Integer(1)
    n_out, n = params.term(n_out_expr, "n"), extents[axis]
    t = _acc_type("max", k.body.dtype)  # float16 compares as float32, exactly
    block = _block(target, axis == rank - 1)
    shuffle = _shuffles(target, block, (t, "int64"))
    shared = ("sh_acc", "sh_arg")
    for s, x in zip(shared, (t, "int64")):
        w.line(f"{s} = cuda.shared.array(({block[1]}, {block[0]}), {_np(x)})")
    w.line("tx = cuda.threadIdx.x")
    w.line("ty = cuda.threadIdx.y")
    _rows(w, block, n_out, loops, kept, extents)
    _init(w, "max", t)
    w.line(f"arg = np.int64({n})  # past the end: no element seen yet")
    w.line(f"if o < {n_out}:")
    w.line(f"    for {loops[axis]} in range(ty, {n}, cuda.blockDim.y):")
    w.depth += 2
    w.line(f"v = x0[{index(k.operands[0], loops, params)}]")
    w.line(f"if arg == {n} or {first_maximum(t, 'v', 'acc')}:")
    w.line(f"    acc = {'v' if t == k.body.dtype else f'np.{t}(v)'}")
    w.line(f"    arg = np.int64({loops[axis]})")
    w.depth -= 2
    _block_reduce(w, ("acc", "arg"), shared, _first_of(t), shuffle)
    w.line(f"if ty == 0 and o < {n_out}:")
    w.depth += 1
    _write_result(w, k, loops, params, {}, "arg", printer=DevicePrinter())
    w.depth -= 1
    w.line("cuda.syncthreads()  # the shared partials are reused by the next rows")
    src = _header(w, f"argmax along axis {axis}: the first maximum's position (NaN wins)",
                  ["x0", "out"], params)
    return CudaKernel(k.name, [src], [k.operands[0].buffer, k.out.buffer], list(params.exprs),
                      [n_out_expr, k.domain[axis]], "rows", block=block,
                      empty_error="argmax: an empty axis has no maximum", shuffles=shuffle,
                      notes=[f"block tree reduction of (value, position), {block[0]}x{block[1]}"
                             f" threads" + (", warp shuffles" if shuffle else "")])


PRINTERS = {OneHotKernel: _one_hot, ArangeKernel: _arange, GatherKernel: _gather,
            ArgmaxKernel: _argmax, RandomKernel: _random}
