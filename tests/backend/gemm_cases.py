"""Operands for the column-major gemm tests (test_cpu_blas.py: BLAS itself, test_cpu_blocks.py:
BLAS in blocks)."""
import numpy as np


def column_major_operands(rng, m, n, k, ta, tb, dtype):
    """(op(A) as stored, op(B) as stored, A's array, B's array): each operand column-major,
    stored as the transpose of a row-major array, with padding past its leading dimension
    (A's rows 2 longer, B's 1) that a gemm must not read as data."""
    op_a = rng.standard_normal((m, k) if ta == "n" else (k, m)).astype(dtype)
    op_b = rng.standard_normal((k, n) if tb == "n" else (n, k)).astype(dtype)
    a = np.zeros((op_a.shape[1], op_a.shape[0] + 2), dtype)
    a[:, :op_a.shape[0]] = op_a.T
    b = np.zeros((op_b.shape[1], op_b.shape[0] + 1), dtype)
    b[:, :op_b.shape[0]] = op_b.T
    return op_a, op_b, a, b
