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
    form = k.gemm_form() if layout is not None else None
    if layout is not None:
        w.line("if use_blas:")
        w.depth += 1
        _gemm_call(w, k, params, M, N, K, layout, form)
        w.depth -= 1
        w.line("else:")
        w.depth += 1
    _tiled(w, k, params, M, N, K, sched)
    if layout is not None:
        w.depth -= 1
    w.depth -= nb
    if layout is not None and len(k.epilogue.stmts) and form is None:
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
    notes = [f"BLAS gemm (A {layout[0]}, B {layout[1]}, result {layout[2]}"
             f"{', alpha and beta: the update accumulates in place' if form else ''}) or "
             f"tiled {sched.tile_m}x{sched.tile_n}x{sched.tile_k}" if layout else
             f"tiled {sched.tile_m}x{sched.tile_n}x{sched.tile_k} (no dense layout for BLAS)"]
    what = " ".join(k.epilogue.lines()[:-1])
    ks = _finish(k.name, f"{'+'.join(k.provenance)}: acc = A @ B per batch item"
                 + (f"; epilogue {what}" if what else ""), params, arrays, w, notes)
    ks.arrays = [k.a.buffer, k.b.buffer] + [e.buffer for e in k.extras] + [k.out.buffer,
                                                                            "use_blas"]
    ks.blas = layout is not None
    return ks


def _gemm_call(w, k, params, M, N, K, layout, form):
    """One BLAS gemm per batch item, operands read in place: a column-major (transposed) one
    by a transpose flag. Row-major C = alpha A B + beta C is column-major C^T = alpha B^T A^T +
    beta C^T, which is how it is called. `form` folds an epilogue alpha*acc + beta*e (e the
    result's own buffer) into the call's alpha and beta."""
    nb = k.nbatch
    la, lb, lc = layout
    kind = "s" if k.acc_dtype == "float32" else "d"
    t = k.acc_dtype

    def ld(access, rows_axis, cols_axis, lay):
        s = access.strides[rows_axis] if lay == "C" else access.strides[cols_axis]
        return params.term(s, "s") if s not in (0, 1) else "1"
    lda = ld(k.a, nb, nb + 2, la)
    ldb = ld(k.b, nb + 2, nb + 1, lb)
    ldc = ld(k.out, nb, nb + 1, lc)
    def factor(sign_c):
        sign, c = sign_c
        value = "1" if c is None else f"e{c}[0]" if isinstance(c, int) else repr(c.value)
        return f"np.{t}({'-' if sign < 0 else ''}{value})"
    if form is None:
        alpha, beta = f"np.{t}(1)", f"np.{t}(0)"
    else:
        alpha, beta = factor(form[0]), factor(form[1])
    w.line(f"al = np.empty(1, np.{t})")
    w.line(f"al[0] = {alpha}")
    w.line(f"be = np.empty(1, np.{t})")
    w.line(f"be[0] = {beta}")
    w.line(f"if {M} > 0 and {N} > 0:")
    w.depth += 1
    if form is None:
        w.line(f"if {K} == 0:  # an empty sum: BLAS may not touch C")
        w.line(f"    for mi in range({M}):")
        w.line(f"        for ni in range({N}):")
        w.line(f"            out[{index(k.out, [f'p{j}' for j in range(nb)] + ['mi', 'ni', '0'], params)}] = 0")
    if lc == "C":  # C^T (N x M) col-major = alpha * X (N x K) @ Y (K x M) + beta * C^T
        tx, ty = ("n" if lb == "C" else "t"), ("n" if la == "C" else "t")
        w.line(f"xxgemm(ord('{kind}'), ord('{tx}'), ord('{ty}'), {N}, {M}, {K}, al.ctypes.data, "
               f"b[ib:].ctypes.data, {ldb}, a[ia:].ctypes.data, {lda}, be.ctypes.data, "
               f"out[io:].ctypes.data, {ldc})")
    else:  # C (M x N) col-major = alpha * A (M x K) @ B (K x N) + beta * C
        tx, ty = ("n" if la == "F" else "t"), ("n" if lb == "F" else "t")
        w.line(f"xxgemm(ord('{kind}'), ord('{tx}'), ord('{ty}'), {M}, {N}, {K}, al.ctypes.data, "
               f"a[ia:].ctypes.data, {lda}, b[ib:].ctypes.data, {ldb}, be.ctypes.data, "
               f"out[io:].ctypes.data, {ldc})")
    w.depth -= 1


def _batch_only(access, nb):
    return type(access)(access.buffer, access.strides[:nb] + (0, 0, 0), access.offset)


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


def _epilogue(w, k, params, dims, loops, acc_text, target=None, printer=None):
    """The epilogue of one result element: read the accumulator and the extras, apply the
    body's statements, write the result."""
    target = target or acc_text
    for j, e in enumerate(k.extras):
        w.line(f"b{j} = e{j}[{index(e, loops, params)}]")
    lines, result = body_lines(k.epilogue, [acc_text] + [f"b{j}" for j in range(len(k.extras))],
                               dims, prefix="u", printer=printer)
    for ln in lines:
        w.line(ln)
    w.line(f"{target} = {result}")
