"""The contraction kernel: out[b, m, n] = epilogue(sum_k A[b, m, k] * B[b, k, n], extras).

Two ways to compute it, both in the same kernel function (an argument picks one per call):
- a BLAS gemm (np.dot inside Numba reaches scipy's OpenBLAS): operands read in place, a
  transposed operand by a transpose flag (its F-ordered view), never copied. It needs each
  batch item's A, B and result to be dense matrices; the printer says when they are not.
- a tiled loop nest generated from the `tile` schedule (tile_m x tile_n x tile_k): an
  accumulator tile in registers and L1, the epilogue applied as each tile is written back.
"""
from __future__ import annotations

from ...lower.program import ContractKernel
from .kernels import KernelSource, _finish, _Writer
from .printer import Params, body_lines, index


def print_contract(k: ContractKernel) -> KernelSource:
    params, w = Params(), _Writer()
    nb = k.nbatch
    dims = {d: params.term(d, "d") for d in k.epilogue.dim_symbols()}
    arrays = ["a", "b"] + [f"e{j}" for j in range(len(k.extras))] + ["out", "use_blas"]
    ext = [params.term(d, "n") for d in k.domain]
    M, N, K = ext[nb:]
    batch = [f"p{j}" for j in range(nb)]
    sched = k.schedule
    layout = k.dense_layout()
    for v, e in zip(batch, ext[:nb]):
        w.loop(v, e)
    loops_a = batch + ["mi", "ni", "ki"]
    base_a = index(_batch_only(k.a, nb), batch + ["_", "_", "_"], params)
    base_b = index(_batch_only(k.b, nb), batch + ["_", "_", "_"], params)
    base_o = index(_batch_only(k.out, nb), batch + ["_", "_", "_"], params)
    w.line(f"ia = {base_a}")
    w.line(f"ib = {base_b}")
    w.line(f"io = {base_o}")
    if layout is not None:
        la, lb, lc = layout
        w.line("if use_blas:")
        w.depth += 1
        w.line(f"A = {_matrix('a', 'ia', M, K, la)}")
        w.line(f"Bm = {_matrix('b', 'ib', K, N, lb)}")
        if lc == "C":
            w.line(f"C = out[io:io + {M} * {N}].reshape(({M}, {N}))")
            w.line(f"if {K} == 0:")
            w.line("    C[:] = 0")
            w.line("else:")
            w.line("    np.dot(A, Bm, C)")
        else:  # a column-major result: C^T = B^T A^T, written row-major
            w.line(f"Ct = out[io:io + {M} * {N}].reshape(({N}, {M}))")
            w.line(f"if {K} == 0:")
            w.line("    Ct[:] = 0")
            w.line("else:")
            w.line("    np.dot(Bm.T, A.T, Ct)")
        w.depth -= 1
        w.line("else:")
        w.depth += 1
    _tiled(w, k, params, M, N, K, sched)
    if layout is not None:
        w.depth -= 1
    w.depth -= nb
    if layout is not None and len(k.epilogue.stmts):
        # after a BLAS call the epilogue is its own pass over the result, in place
        w.line("if use_blas:")
        w.depth += 1
        for v, e in zip(batch, ext[:nb]):
            w.loop(v, e)
        w.loop("mi", M)
        w.loop("ni", N)
        _epilogue(w, k, params, dims, batch + ["mi", "ni", "ki"],
                  f"out[{index(k.out, batch + ['mi', 'ni', 'ki'], params)}]")
        w.depth -= nb + 3
    notes = [f"BLAS gemm (A {layout[0]}, B {layout[1]}, result {layout[2]}) or "
             f"tiled {sched.tile_m}x{sched.tile_n}x{sched.tile_k}" if layout else
             f"tiled {sched.tile_m}x{sched.tile_n}x{sched.tile_k} (no dense layout for BLAS)"]
    what = " ".join(k.epilogue.lines()[:-1])
    ks = _finish(k.name, f"{'+'.join(k.provenance)}: acc = A @ B per batch item"
                 + (f"; epilogue {what}" if what else ""), params, arrays, w, notes)
    ks.arrays = [k.a.buffer, k.b.buffer] + [e.buffer for e in k.extras] + [k.out.buffer,
                                                                            "use_blas"]
    ks.blas = layout is not None
    return ks


def _batch_only(access, nb):
    return type(access)(access.buffer, access.strides[:nb] + (0, 0, 0), access.offset)


def _matrix(array, base, rows, cols, layout):
    if layout == "C":
        return f"{array}[{base}:{base} + {rows} * {cols}].reshape(({rows}, {cols}))"
    return f"{array}[{base}:{base} + {rows} * {cols}].reshape(({cols}, {rows})).T"


def _tiled(w, k, params, M, N, K, sched):
    """The generated loop nest: tiles of the result, accumulated over tiles of k, the
    epilogue applied as each tile is written back."""
    nb = k.nbatch
    tm, tn, tk = sched.tile_m, sched.tile_n, sched.tile_k
    sam, sak = (params.term(s, "s") if s not in (0, 1) else str(s)
                for s in (k.a.strides[nb], k.a.strides[nb + 2]))
    sbk, sbn = (params.term(s, "s") if s not in (0, 1) else str(s)
                for s in (k.b.strides[nb + 2], k.b.strides[nb + 1]))
    start = w.depth
    w.line(f"acc = np.empty(({tm}, {tn}), np.{k.acc_dtype})")
    w.line(f"for m0 in range(0, {M}, {tm}):")
    w.depth += 1
    w.line(f"mt = min({tm}, {M} - m0)")
    w.line(f"for n0 in range(0, {N}, {tn}):")
    w.depth += 1
    w.line(f"nt = min({tn}, {N} - n0)")
    w.line("acc[:mt, :nt] = 0")
    w.line(f"for k0 in range(0, {K}, {tk}):")
    w.depth += 1
    w.line(f"kt = min({tk}, {K} - k0)")
    w.loop("mi", "mt")
    w.loop("ki", "kt")
    w.line(f"av = a[ia + (m0 + mi) * {sam} + (k0 + ki) * {sak}]")
    w.line(f"bi = ib + (k0 + ki) * {sbk}")
    w.loop("ni", "nt")
    w.line(f"acc[mi, ni] += av * b[bi + (n0 + ni) * {sbn}]")
    w.depth -= 4
    w.loop("mi", "mt")
    w.loop("ni", "nt")
    loops = [f"p{j}" for j in range(nb)] + ["(m0 + mi)", "(n0 + ni)", "0"]
    target = f"out[{index(k.out, loops, params)}]"
    _epilogue(w, k, params, {d: params.term(d, "d") for d in k.epilogue.dim_symbols()},
              loops, "acc[mi, ni]", target)
    w.depth = start


def _epilogue(w, k, params, dims, loops, acc_text, target=None):
    """The epilogue of one result element: read the accumulator and the extras, apply the
    body's statements, write the result."""
    target = target or acc_text
    for j, e in enumerate(k.extras):
        w.line(f"b{j} = e{j}[{index(e, loops, params)}]")
    lines, result = body_lines(k.epilogue, [acc_text] + [f"b{j}" for j in range(len(k.extras))],
                               dims, prefix="u")
    for ln in lines:
        w.line(ln)
    w.line(f"{target} = {result}")
