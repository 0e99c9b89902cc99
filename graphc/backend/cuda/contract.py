"""The CUDA contraction kernel: out[b, m, n] = epilogue(sum_k A[b, m, k] * B[b, k, n], extras).

The `tile` schedule's loop nest (tiles of the result, accumulated over tiles of k), with GPU
tile sizes: a block computes a bm x bn tile of the result, staging bk-deep slices of A and B
in shared memory; each of its (bm/tm) x (bn/tn) threads keeps a tm x tn register block of
accumulators, at rows ty + i*(bm/tm) and columns tx + j*(bn/tn), so a warp reads shared
memory and writes the result in consecutive columns. The epilogue runs as each element is
written back. Tiles (of every batch item) are handed out by a grid-stride loop over one flat
tile index. One kernel is printed per tile variant that fits the device's shared memory
(target.py); the runtime launches the largest that still gives every SM a block.
"""
from __future__ import annotations

import sympy

from ...lower.program import ContractKernel
from ..numba.contract import _batch_only, _epilogue
from ..numba.kernels import _Writer
from ..numba.printer import Params, index
from .kernels import CudaKernel, _header, _unravel, print_kernel
from .printer import DevicePrinter
from .target import PAD


def _variants(k: ContractKernel, target) -> tuple:
    """The tile variants worth printing: those that fit the shared memory, less those far
    larger than a known extent of M or N (a 10-wide result needs no 128-wide tile)."""
    import numpy as np
    fit = target.tile_variants(np.dtype(k.acc_dtype).itemsize)
    nb = k.nbatch
    M, N = k.domain[nb], k.domain[nb + 1]

    def small_enough(t):
        return all(not sympy.sympify(d).is_number or size <= max(32, 2 * int(d))
                   for d, size in ((M, t.bm), (N, t.bn)))
    return tuple(t for t in fit if small_enough(t)) or fit[-1:]


@print_kernel.register
def print_contract(k: ContractKernel, target) -> CudaKernel:
    variants = _variants(k, target)
    sources, params = [], None
    for tiles in variants:
        params = Params()  # the same parameters, in the same order, for every variant
        sources.append(_print(k, tiles, params))
    nb = k.nbatch
    batch = sympy.Mul(*k.domain[:nb]) if nb else sympy.Integer(1)
    return CudaKernel(k.name, sources, [k.a.buffer, k.b.buffer] + [e.buffer for e in k.extras]
                      + [k.out.buffer], list(params.exprs),
                      [batch, k.domain[nb], k.domain[nb + 1]], "tiles", variants=list(variants),
                      notes=["shared-memory tiles: " + ", ".join(map(str, variants))])


def _stride(s, params: Params) -> str:
    return params.term(s, "s")


def _print(k: ContractKernel, t, params: Params) -> str:
    w = _Writer()
    nb = k.nbatch
    dims = {d: params.term(d, "d") for d in k.epilogue.dim_symbols()}
    arrays = ["a", "b"] + [f"e{j}" for j in range(len(k.extras))] + ["out"]
    ext = [params.term(d, "n") for d in k.domain]
    M, N, K = ext[nb:]
    batch = [f"p{j}" for j in range(nb)]
    n_batch = params.term(sympy.Mul(*k.domain[:nb]) if nb else 1, "n")
    sam, sak = _stride(k.a.strides[nb], params), _stride(k.a.strides[nb + 2], params)
    sbk, sbn = _stride(k.b.strides[nb + 2], params), _stride(k.b.strides[nb + 1], params)
    tx_n, ty_n = t.threads
    nt = tx_n * ty_n
    acc = f"np.{k.acc_dtype}"
    w.line(f"As = cuda.shared.array(({t.bk}, {t.bm + PAD}), {acc})")
    w.line(f"Bs = cuda.shared.array(({t.bk}, {t.bn + PAD}), {acc})")
    w.line(f"acc = cuda.local.array(({t.tm}, {t.tn}), {acc})")
    w.line(f"ar = cuda.local.array({t.tm}, {acc})")
    w.line(f"br = cuda.local.array({t.tn}, {acc})")
    w.line("tx = cuda.threadIdx.x")
    w.line("ty = cuda.threadIdx.y")
    w.line(f"tid = ty * {tx_n} + tx")
    w.line(f"tiles_m = ({M} + {t.bm - 1}) // {t.bm}")
    w.line(f"tiles_n = ({N} + {t.bn - 1}) // {t.bn}")
    w.line(f"for tile in range(cuda.blockIdx.x, {n_batch} * tiles_m * tiles_n, "
           f"cuda.gridDim.x):")
    w.depth += 1
    w.line("n0 = (tile % tiles_n) * " + str(t.bn))
    w.line("q = tile // tiles_n")
    w.line(f"m0 = (q % tiles_m) * {t.bm}")
    w.line("z = q // tiles_m")
    _unravel(w, "z", batch, ext[:nb])
    w.line(f"ia = {index(_batch_only(k.a, nb), batch + ['_'] * 3, params)}")
    w.line(f"ib = {index(_batch_only(k.b, nb), batch + ['_'] * 3, params)}")
    w.line(f"for i in range({t.tm}):")
    w.line(f"    for j in range({t.tn}):")
    w.line("        acc[i, j] = 0")
    w.line(f"for k0 in range(0, {K}, {t.bk}):")
    w.depth += 1
    # stage the slices: consecutive threads load along whichever axis is contiguous
    _stage(w, "As", "a", "ia", t.bm, t.bk, "m0", "k0", M, K, sam, sak, nt, rows_fast=sam == "1")
    _stage(w, "Bs", "b", "ib", t.bn, t.bk, "n0", "k0", N, K, sbn, sbk, nt, rows_fast=sbn == "1")
    w.line("cuda.syncthreads()")
    w.line(f"for kk in range({t.bk}):")
    w.line(f"    for i in range({t.tm}):")
    w.line(f"        ar[i] = As[kk, ty + i * {ty_n}]")
    w.line(f"    for j in range({t.tn}):")
    w.line(f"        br[j] = Bs[kk, tx + j * {tx_n}]")
    w.line(f"    for i in range({t.tm}):")
    w.line(f"        for j in range({t.tn}):")
    w.line("            acc[i, j] = cuda.fma(ar[i], br[j], acc[i, j])")
    w.line("cuda.syncthreads()")
    w.depth -= 1
    # write back, the epilogue fused
    w.line(f"for i in range({t.tm}):")
    w.line(f"    gm = m0 + ty + i * {ty_n}")
    w.line(f"    if gm < {M}:")
    w.line(f"        for j in range({t.tn}):")
    w.line(f"            gn = n0 + tx + j * {tx_n}")
    w.line(f"            if gn < {N}:")
    w.depth += 4
    loops = batch + ["gm", "gn", "0"]
    _epilogue(w, k, params, dims, loops, "acc[i, j]", f"out[{index(k.out, loops, params)}]",
              printer=DevicePrinter())
    what = " ".join(k.epilogue.lines()[:-1])
    return _header(w, f"{'+'.join(k.provenance)}: acc = A @ B per batch item, {t}"
                   + (f"; epilogue {what}" if what else ""), arrays, params)


def _stage(w, tile, array, base, rows, depth, r0, k0, R, K, s_r, s_k, nt, rows_fast):
    """tile[kk, r] = array[base + (r0 + r)*s_r + (k0 + kk)*s_k], zero outside the operand;
    rows*depth elements, nt threads, rows_fast: consecutive threads take consecutive r."""
    size = rows * depth
    w.line(f"for l in range({-(-size // nt)}):")
    w.depth += 1
    w.line(f"e = tid + l * {nt}")
    if size % nt:  # more threads than elements, or a ragged last round
        w.line(f"if e >= {size}:")
        w.line("    break")
    if rows_fast:
        w.line(f"r = e % {rows}")
        w.line(f"kk = e // {rows}")
    else:
        w.line(f"kk = e % {depth}")
        w.line(f"r = e // {depth}")
    w.line(f"gr = {r0} + r")
    w.line(f"gk = {k0} + kk")
    w.line(f"if gr < {R} and gk < {K}:")
    w.line(f"    {tile}[kk, r] = {array}[{base} + gr * {s_r} + gk * {s_k}]")
    w.line("else:")
    w.line(f"    {tile}[kk, r] = 0")
    w.depth -= 1
