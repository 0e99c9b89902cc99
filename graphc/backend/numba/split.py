"""Products split across the threads of Numba's pool, as sources of gemm.py's shared modules
(compiled once per machine and dtype, called by kernels by symbol):

- "blocks", `gemm_blocks`: BLAS's column-major gemm as one-thread gemms on blocks of the
  result, one per thread (a contraction kernel's mode 3);
- "items", `gemm_items`: a batch of small products of the generated tiles, the items split
  across the threads (mode 4: the attention's per-head products, which have no dense layout
  for BLAS).
"""
from .gemm import linked


BLOCKS = '''@njit(cache=True, nogil=True, parallel=True)
def blocks_arrays(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e, esi, esj,
                  copy):
    """BLAS's column-major gemm c = alpha * op(a) @ op(b) + beta * c, its operands arrays
    from their first elements, computed by one-thread gemms on blocks of c, one per thread of
    Numba's pool. c's rows are split where m >= n, so that each thread packs the smaller
    operand whole (256x512x784 row-major: 0.77 ms, 0.84 split the other way), except for a
    short sum (k < 64), which is bound by writing c and is split into whole columns, each
    contiguous (256x512x10: 0.017 against 0.041 ms). `copy`: each block of c is first a copy
    of e's (c[i + j*ldc] = e[i*esi + j*esj]), on its own thread."""
    parts = min(pool_threads(), max(m, n))
    by_rows = m >= n and k >= 64
    size = c.itemsize
    al = scratch(1, T)  # BLAS reads them by address: arrays used in the loop stay alive
    al[0] = alpha
    be = scratch(1, T)
    be[0] = beta
    for p in prange(parts):
        i0 = m * p // parts if by_rows else 0
        i1 = m * (p + 1) // parts if by_rows else m
        j0 = 0 if by_rows else n * p // parts
        j1 = n if by_rows else n * (p + 1) // parts
        if i1 > i0 and j1 > j0:
            if copy:
                for j in range(j0, j1):
                    for i in range(i0, i1):
                        c[np.uint64(i + j * ldc)] = e[np.uint64(i * esi + j * esj)]
            # where op(a)'s row i0 and op(b)'s column j0 start
            at = i0 if transa == NO_TRANSPOSE else i0 * lda
            bt = j0 * ldb if transb == NO_TRANSPOSE else j0
            xxgemm({kind}, transa, transb, i1 - i0, j1 - j0, k, al.ctypes.data,
                   a.ctypes.data + size * at, lda, b.ctypes.data + size * bt, ldb,
                   be.ctypes.data, c.ctypes.data + size * (i0 + j0 * ldc), ldc)


S = types.float32 if T == np.float32 else types.float64
BLOCKS = types.void(I, I, I, I, I, S, P, I, I, P, I, I, S, P, I, I, P, I, I, I, I)


def blocks_python(transa, transb, m, n, k, alpha, a, na, lda, b, nb, ldb, beta, c, nc, ldc, e,
                  ne, esi, esj, copy):
    blocks_arrays(transa, transb, m, n, k, alpha, _array(a, na), lda, _array(b, nb), ldb, beta,
                  _array(c, nc), ldc, _array(e, ne), esi, esj, copy)


''' + linked("blocks", "gemm_blocks", "BLOCKS", """transa, transb, m, n, k, alpha, a, na, lda, b, nb,
                     ldb, beta, c, nc, ldc, e, ne, esi, esj, copy""", """blocks_arrays(transa, transb, m, n, k, alpha, carray(a, (na,), T), lda,
                      carray(b, (nb,), T), ldb, beta, carray(c, (nc,), T), ldc,
                      carray(e, (ne,), T), esi, esj, copy)""") + '''


@njit(cache=True, nogil=True)
def timed_blocks(a, b, out, mm, nn, kk, reps):
    """reps gemms out = a @ b (row-major) by `gemm_blocks`, as a contraction kernel's mode 3
    runs them."""
    for r in range(reps):
        gemm_blocks(NO_TRANSPOSE, NO_TRANSPOSE, nn, mm, kk, T(1), b.ctypes.data, b.size, nn,
                    a.ctypes.data, a.size, kk, T(0), out.ctypes.data, out.size, nn,
                    out.ctypes.data, 0, 0, 0, 0)
'''

ITEMS = '''@njit(cache=True, nogil=True, parallel=True)
def items_arrays(a, b, out, at, items, sam, sak, sbk, sbn, som, son, mm, nn, kk, tm, tn, tk):
    """out[io + m*som + n*son] = (A @ B)[m, n] for each of `items` products, the items split
    across the threads of Numba's pool. Item i's A, B and result start at at[3i], at[3i + 1]
    and at[3i + 2]; it runs as a kernel's generated tiles (`tile`), its result written as
    summed (the kernel applies its epilogue after)."""
    for i in prange(items):
        acc = scratch(tm * tn, T)
        ia = at[3 * i]
        ib = at[3 * i + 1]
        io = at[3 * i + 2]
        for m0 in range(0, mm, tm):
            mt = min(tm, mm - m0)
            for n0 in range(0, nn, tn):
                nt = min(tn, nn - n0)
                tile(a.ctypes.data, a.size, ia + m0 * sam, sam, sak, b.ctypes.data, b.size,
                     ib + n0 * sbn, sbk, sbn, mt, nt, kk, tk, acc.ctypes.data, tn)
                for x in range(mt):
                    for y in range(nt):
                        out[np.uint64(io + (m0 + x) * som + (n0 + y) * son)] = acc[x * tn + y]


ITEMS = types.void(P, I, P, I, P, I, P, I, I, I, I, I, I, I, I, I, I, I, I, I, I)


def items_python(a, na, b, nb, out, nout, at, nat, items, sam, sak, sbk, sbn, som, son, mm,
                 nn, kk, tm, tn, tk):
    items_arrays(_array(a, na), _array(b, nb), _array(out, nout),
                 np.ctypeslib.as_array(ctypes.cast(at, ctypes.POINTER(ctypes.c_int64)), (nat,)),
                 items, sam, sak, sbk, sbn, som, son, mm, nn, kk, tm, tn, tk)


''' + linked("items", "gemm_items", "ITEMS", """a, na, b, nb, out, nout, at, nat, items, sam, sak, sbk,
                    sbn, som, son, mm, nn, kk, tm, tn, tk""", """items_arrays(carray(a, (na,), T), carray(b, (nb,), T), carray(out, (nout,), T),
                     carray(at, (nat,), np.int64), items, sam, sak, sbk, sbn, som, son, mm, nn,
                     kk, tm, tn, tk)""") + "\n"
