"""The contraction kernel: out[b, m, n] = epilogue(sum_k A[b, m, k] * B[b, k, n], extras).

Five ways to compute it, in the same kernel function (its `mode` argument picks one per
call, from what `modes.choose` measured for the call's shape):
- generated (mode 0): the tiles of the `tile` schedule, each computed by the shared packed
  micro-kernel (graphc/backend/numba/gemm.py) and written back through the epilogue;
- BLAS (mode 1): a gemm reading the operands in place, a transposed operand by a transpose
  flag (its F-ordered view), never copied; an epilogue `alpha * acc + beta * e` (a parameter
  update, a bias) goes into the call's alpha and beta, with e copied into the result first
  where it is another buffer (measured 0.13 ms faster per big MLP step than a pass after the
  call, 3.94 against 4.07 ms); any other epilogue is a pass over the result after it.
  It needs each batch item's A, B and result to be dense matrices; the printer says when
  they are not.
- generated on all threads (mode 2): the tiles split across threads, the epilogue after, as
  after BLAS; not where the epilogue reads the result's own buffer (an update in place), and
  only in a program that may run it (`parallel_product`: Numba's pool never runs beside BLAS's
  threads, so a program with a BLAS-capable contraction never chooses it; compiling it
  costs half the shared matmul's compile).
- BLAS in blocks on all threads (mode 3): as mode 1, but the gemm is gemm.py's
  `gemm_blocks`, which splits the result into one block per thread of Numba's pool and runs
  a one-thread BLAS gemm on each (copying e into its block first, for a form with a copy).
  A step that runs it keeps BLAS on one thread throughout (graphc/backend/numba/runtime.py:
  _modes), so Numba's pool has the cores. Only for products that can be large enough
  (BLOCKS_FROM_FLOPS).
- generated in batch items on all threads (mode 4): for a batched product with no dense
  layout (the attention's per-head products), each item's offsets into an array and gemm.py's
  `gemm_items` runs the items across Numba's threads, the epilogue after; chosen from 2^16
  result elements (graphc/backend/numba/runtime.py: _modes).
A contraction whose result is stored in another dtype than its sums (an epilogue that compares
or casts) runs mode 0 only.
"""
from __future__ import annotations

from ...lower.program import ContractKernel
from . import gemm
from .kernels import _finish, _may_split, _Writer
from .printer import Params, body_lines, index, subscript

# xxgemm's character arguments, by the names of blas.py's integer constants
_CHAR = {"s": "SINGLE", "d": "DOUBLE", "n": "NO_TRANSPOSE", "t": "TRANSPOSE"}


# Below this many FLOPs a product never runs in blocks across threads: measured alone, a
# 64x128x64 product (2^20) ran 4% faster in blocks, but the small MLP's step went from 44 to
# 62 us, paying for the pool (runtime.py, _modes)
BLOCKS_FROM_FLOPS = 2 ** 21


def print_contract(k: ContractKernel, parallel_product: bool = True):
    params, w = Params(), _Writer()
    nb = k.nbatch
    dims = {d: params.term(d, "d") for d in k.epilogue.dim_symbols()}
    arrays = ["a", "b"] + [f"e{j}" for j in range(len(k.extras))] + ["out", "mode"]
    ext = [params.term(d, "n", axis) for axis, d in enumerate(k.domain)]
    M, N, K = ext[nb:]
    batch = [f"p{j}" for j in range(nb)]
    sched = k.schedule
    t = k.acc_dtype
    layout = k.dense_layout()
    form = k.gemm_form(copy_ok=True) if layout is not None else None
    # the product on all threads and the batch items write the sums into the result first:
    # only where the result holds them (its own dtype) and no extra is read from it
    sums_first = k.stores_acc_dtype() and all(e.buffer != k.out.buffer for e in k.extras)
    parallel = parallel_product and sums_first
    blocks = layout is not None and _may_be_large(k) and \
        (form is None or k.epilogue.value_dtype(form[2] + 1) == t)  # e is copied as t
    strides = _strides(k, params)
    tm, tn, tk = sched.tile_m, sched.tile_n, sched.tile_k
    # the batch items across threads, where the generated kernel is the only way (no dense
    # layout for BLAS: the attention's per-head products) and there can be enough of them
    items = layout is None and not parallel and nb > 0 and sums_first and \
        _may_split(k.domain[:nb + 2], transcendental=True)
    if items:
        _items(w, k, params, ext, strides, dims)
    w.line(f"acc = scratch({tm * tn} if mode == 0 else 0, np.{t})  # a generated tile")
    for v, e in zip(batch, ext[:nb]):
        w.loop(v, e)
    w.line(f"ia = {index(_batch_only(k.a, nb), batch + ['_', '_', '_'], params)}")
    w.line(f"ib = {index(_batch_only(k.b, nb), batch + ['_', '_', '_'], params)}")
    w.line(f"io = {index(_batch_only(k.out, nb), batch + ['_', '_', '_'], params)}")
    gemm_modes = ((1,) if layout is not None else ()) + ((3,) if blocks else ())
    if gemm_modes:  # (one loop for both: each loop is Numba's compile time)
        # an empty sum: no gemm call (MKL refuses its leading dimension of 0, and left C as
        # e where the update is beta * e), so C is what the gemm would make of it
        at = batch + ["mi", "ni", "0"]
        value = "0" if form is None else f"{_alpha_beta(k, form)[1]} * " \
            f"e{form[2]}[{subscript(k.extras[form[2]], at, params)}]"
        w.line(f"if ({' or '.join(f'mode == {m}' for m in gemm_modes)}) and {K} == 0:")
        w.line(f"    for mi in range({M}):")
        w.line(f"        for ni in range({N}):")
        w.line(f"            out[{subscript(k.out, at, params)}] = {value}")
    first = "if"
    if layout is not None:
        w.line("if mode == 1:")
        w.depth += 1
        _gemm_call(w, k, params, M, N, K, layout, form)
        w.depth -= 1
        first = "elif"
    if blocks:
        w.line("elif mode == 3:")
        w.depth += 1
        _gemm_call(w, k, params, M, N, K, layout, form, blocks=True)
        w.depth -= 1
    if parallel:
        sam, sak, sbk, sbn, som, son = strides
        w.line(f"{first} mode == 2:")
        w.line(f"    product(a.ctypes.data, a.size, ia, {sam}, {sak}, b.ctypes.data, b.size, ib, "
               f"{sbk}, {sbn}, {M}, {N}, {K}, out.ctypes.data, out.size, io, {som}, {son}, "
               f"{tm}, {tn}, {tk})")
        first = "elif"
    if first == "if":
        _tiled(w, k, params, M, N, K, strides, dims)
    else:
        w.line("else:")
        w.depth += 1
        _tiled(w, k, params, M, N, K, strides, dims)
        w.depth -= 1
    w.depth -= nb
    separate = [m for m in ((1,) if layout is not None and form is None else ()) +
                ((2,) if parallel else ()) + ((3,) if blocks and form is None else ())]
    if k.epilogue.stmts and separate:
        # after a BLAS call or the parallel product, the epilogue is its own pass, in place
        w.line(f"if {' or '.join(f'mode == {m}' for m in separate)}:")
        w.depth += 1
        for v, e in zip(batch, ext[:nb]):
            w.loop(v, e)
        w.loop("mi", M)
        w.loop("ni", N)
        _epilogue(w, k, params, dims, batch + ["mi", "ni", "ki"],
                  f"out[{subscript(k.out, batch + ['mi', 'ni', 'ki'], params)}]")
        w.depth -= nb + 3
    ways = [f"generated (tiles {tm}x{tn}x{tk})"] + \
        ([f"BLAS gemm (A {layout[0]}, B {layout[1]}, result {layout[2]}"
          f"{', alpha and beta: the update accumulates in place' if form else ''})"]
         if layout else []) + (["generated on all threads"] if parallel else []) + \
        (["BLAS in blocks on all threads"] if blocks else []) + \
        (["generated in batch items on all threads"] if items else [])
    notes = [" or ".join(ways) + ("" if layout else " (no dense layout for BLAS)")]
    what = "; ".join(k.epilogue.lines()[:-1])
    ks = _finish(k.name, f"{'+'.join(k.provenance)}: acc = A @ B per batch item"
                 + (f"; epilogue {what}" if what else ""), params, arrays, w, notes)
    ks.arrays = [k.a.buffer, k.b.buffer] + [e.buffer for e in k.extras] + [k.out.buffer,
                                                                            "mode"]
    ks.blas = layout is not None
    ks.parallel = parallel
    ks.blocks = blocks
    ks.items = items
    ks.gemm = [(t, "tile")] + ([(t, "product")] if parallel else []) + \
        ([(t, "blocks")] if blocks else []) + ([(t, "items")] if items else [])
    # called through cells: the kernel compiles without the modules (gemm.shared)
    ks.imports = ["from graphc.backend.numba.gemm import shared", ""] + \
        [f"{gemm.EXPORTS[part]} = shared({gemm.symbol(t, part)!r}, {t!r}, {part!r})"
         for t, part in ks.gemm]
    return ks


def _may_be_large(k) -> bool:
    """Whether the product can be large enough for threads (BLOCKS_FROM_FLOPS): its sizes known
    when it is printed already make that many FLOPs, or some are dims. Only such a kernel has
    mode 3, so a program of small products never loads the shared module that runs it."""
    import sympy
    flops = 2 * sympy.Mul(*k.domain)
    return bool(flops.free_symbols) or int(flops) >= BLOCKS_FROM_FLOPS


def _strides(k, params) -> tuple:
    """A's row and k strides, B's k and column strides, the result's row and column strides."""
    nb = k.nbatch

    def term(access, axis):
        s = access.strides[axis]
        return params.term(s, "s", (access.buffer, axis)) if s not in (0, 1) else str(s)
    return (term(k.a, nb), term(k.a, nb + 2), term(k.b, nb + 2), term(k.b, nb + 1),
            term(k.out, nb), term(k.out, nb + 1))


def _gemm_call(w, k, params, M, N, K, layout, form, blocks: bool = False):
    """One BLAS gemm per batch item, operands read in place: a column-major (transposed) one
    by a transpose flag. Row-major C = alpha A B + beta C is column-major C^T = alpha B^T A^T +
    beta C^T, which is how it is called. `form` folds an epilogue alpha*acc + beta*e (e the
    result's own buffer) into the call's alpha and beta. `blocks`: gemm.py's `gemm_blocks`,
    the same gemm in one-thread blocks across Numba's pool, which also copies e into the
    result (each block its own part) where e is another buffer."""
    nb = k.nbatch
    la, lb, lc = layout
    kind = "s" if k.acc_dtype == "float32" else "d"

    def ld(access, rows_axis, cols_axis, lay):
        axis = rows_axis if lay == "C" else cols_axis
        s = access.strides[axis]
        return params.term(s, "s", (access.buffer, axis)) if s not in (0, 1) else "1"
    lda = ld(k.a, nb, nb + 2, la)
    ldb = ld(k.b, nb + 2, nb + 1, lb)
    ldc = ld(k.out, nb, nb + 1, lc)
    alpha, beta = _alpha_beta(k, form)
    w.line(f"if {M} > 0 and {N} > 0 and {K} > 0:")
    w.depth += 1
    loops = [f"p{j}" for j in range(nb)] + ["mi", "ni", "0"]
    e = k.extras[form[2]] if form is not None else None
    copy = e is not None and not k.is_result(e)  # C starts as e, and BLAS adds alpha * A @ B
    if copy and not blocks:
        w.line(f"for mi in range({M}):")
        w.line(f"    for ni in range({N}):")
        w.line(f"        out[{subscript(k.out, loops, params)}] = "
               f"e{form[2]}[{subscript(e, loops, params)}]")
    # addresses by arithmetic: a slice's `.ctypes.data` was 0.05 s of each kernel's compile
    size = 4 if k.acc_dtype == "float32" else 8
    a, b, out = (f"{x}.ctypes.data + {size} * i{x[0]}" for x in ("a", "b", "out"))
    if blocks:  # with each operand's length from its first element, for its array view
        a, b, out = f"{a}, a.size - ia", f"{b}, b.size - ib", f"{out}, out.size - io"
    if lc == "C":  # C^T (N x M) col-major = alpha * X (N x K) @ Y (K x M) + beta * C^T
        tx, ty = ("n" if lb == "C" else "t"), ("n" if la == "C" else "t")
        sizes, x, ldx, y, ldy = f"{N}, {M}, {K}", b, ldb, a, lda
    else:  # C (M x N) col-major = alpha * A (M x K) @ B (K x N) + beta * C
        tx, ty = ("n" if la == "F" else "t"), ("n" if lb == "F" else "t")
        sizes, x, ldx, y, ldy = f"{M}, {N}, {K}", a, lda, b, ldb
    if not blocks:  # BLAS reads alpha and beta by address
        w.line(f"xxgemm({_CHAR[kind]}, {_CHAR[tx]}, {_CHAR[ty]}, {sizes}, on_stack({alpha}), "
               f"{x}, {ldx}, {y}, {ldy}, on_stack({beta}), {out}, {ldc})")
        w.depth -= 1
        return
    args = f"{_CHAR[tx]}, {_CHAR[ty]}, {sizes}, {alpha}, {x}, {ldx}, {y}, {ldy}, {beta}, " \
        f"{out}, {ldc}"
    if copy:
        # e's element for the call's C[i, j]: C^T's (n, m) where C is row-major
        ie = index(_batch_only(e, nb), [f"p{j}" for j in range(nb)] + ["_", "_", "_"], params)
        sem, sen = (params.term(s, "s", (e.buffer, axis)) if s not in (0, 1) else str(s)
                    for axis, s in enumerate(e.strides[nb:nb + 2], nb))
        esi, esj = (sen, sem) if lc == "C" else (sem, sen)
        w.line(f"gemm_blocks({args}, e{form[2]}.ctypes.data + {size} * {ie}, "
               f"e{form[2]}.size - {ie}, "
               f"{esi}, {esj}, 1)")
    else:
        w.line(f"gemm_blocks({args}, out.ctypes.data, 0, 0, 0, 0)")
    w.depth -= 1


def _items(w, k, params, ext, strides, dims):
    """Mode 4: each batch item's offsets into `at`, then gemm.py's `gemm_items` runs the items
    across Numba's threads, each as the generated tiles; the epilogue after, in place."""
    nb = k.nbatch
    batch = [f"p{j}" for j in range(nb)]
    M, N, K = ext[nb:]
    sam, sak, sbk, sbn, som, son = strides
    s = k.schedule
    count = " * ".join(ext[:nb])
    w.line("if mode == 4:  # the batch items split across threads (gemm_items)")
    w.depth += 1
    w.line(f"at = scratch(3 * {count}, np.int64)  # each item's A, B and result offsets")
    w.line("j = 0")
    for v, e in zip(batch, ext[:nb]):
        w.loop(v, e)
    for name, access in (("at[j]", k.a), ("at[j + 1]", k.b), ("at[j + 2]", k.out)):
        w.line(f"{name} = {index(_batch_only(access, nb), batch + ['_', '_', '_'], params)}")
    w.line("j += 3")
    w.depth -= nb
    w.line(f"gemm_items(a.ctypes.data, a.size, b.ctypes.data, b.size, out.ctypes.data, "
           f"out.size, at.ctypes.data, at.size, {count}, {sam}, {sak}, {sbk}, {sbn}, {som}, "
           f"{son}, {M}, {N}, {K}, {s.tile_m}, {s.tile_n}, {s.tile_k})")
    w.line("at[0] = 0  # a use after the call: Numba frees an array after its last use")
    if k.epilogue.stmts:
        loops = batch + ["mi", "ni", "ki"]
        for v, e in zip(batch, ext[:nb]):
            w.loop(v, e)
        w.loop("mi", M)
        w.loop("ni", N)
        _epilogue(w, k, params, dims, loops, f"out[{subscript(k.out, loops, params)}]")
        w.depth -= nb + 2
    w.line("return 0")
    w.depth -= 1


def _alpha_beta(k, form) -> tuple[str, str]:
    """The gemm's alpha and beta, as code."""
    t = k.acc_dtype

    def factor(sign_c):
        sign, c = sign_c
        value = "1" if c is None else f"e{c}[0]" if isinstance(c, int) else repr(c.value)
        return f"np.{t}({'-' if sign < 0 else ''}{value})"
    return (f"np.{t}(1)", f"np.{t}(0)") if form is None else (factor(form[0]), factor(form[1]))


def _batch_only(access, nb):
    return type(access)(access.buffer, access.strides[:nb] + (0, 0, 0), access.offset)


def _tiled(w, k, params, M, N, K, strides, dims):
    """The schedule's tiles, each computed by the shared micro-kernel into `acc` and written
    back through the epilogue."""
    nb = k.nbatch
    sam, sak, sbk, sbn, _, _ = strides
    tm, tn, tk = k.schedule.tile_m, k.schedule.tile_n, k.schedule.tile_k
    w.line(f"for m0 in range(0, {M}, {tm}):")
    w.depth += 1
    w.line(f"mt = min({tm}, {M} - m0)")
    w.line(f"for n0 in range(0, {N}, {tn}):")
    w.depth += 1
    w.line(f"nt = min({tn}, {N} - n0)")
    w.line(f"tile(a.ctypes.data, a.size, ia + m0 * {sam}, {sam}, {sak}, b.ctypes.data, b.size, "
           f"ib + n0 * {sbn}, {sbk}, {sbn}, mt, nt, {K}, {tk}, acc.ctypes.data, {tn})")
    w.loop("mi", "mt")
    w.loop("ni", "nt")
    loops = [f"p{j}" for j in range(nb)] + ["(m0 + mi)", "(n0 + ni)", "0"]
    _epilogue(w, k, params, dims, loops, f"acc[mi * {tn} + ni]",
              f"out[{subscript(k.out, loops, params)}]")
    w.depth -= 4


def _epilogue(w, k, params, dims, loops, acc_text, target=None, printer=None):
    """The epilogue of one result element: read the accumulator and the extras, apply the
    body's statements, write the result."""
    target = target or acc_text
    for j, e in enumerate(k.extras):
        w.line(f"b{j} = e{j}[{subscript(e, loops, params)}]")
    lines, result = body_lines(k.epilogue, [acc_text] + [f"b{j}" for j in range(len(k.extras))],
                               dims, prefix="u", printer=printer)
    for ln in lines:
        w.line(ln)
    w.line(f"{target} = {result}")
