"""Block "matmul": float32 n x n @ n x n, graphc's three ways against NumPy's BLAS and torch."""
from __future__ import annotations

import numpy as np

from .table import Row, failure

SIZES = (256, 512, 1024, 2048)
# gc.compile's matmul= option: what each graphc row asks for
GRAPHC_WAYS = {"graphc generated, 1 thread": "generated",
               "graphc generated, all threads": "parallel",
               "graphc auto (its own choice)": "auto"}


def rows(protocol, args, footnotes: list[str]) -> list[Row]:
    out = []
    for n in args.sizes:
        rng = np.random.default_rng(n)
        A = rng.standard_normal((n, n), dtype=np.float32)
        B = rng.standard_normal((n, n), dtype=np.float32)
        expected = A @ B
        case, flops = f"n={n}", 2.0 * n ** 3

        def row(system, **kw):
            return Row("matmul", case, system, flops=flops, **kw)
        out.append(row("NumPy a @ b (BLAS)", peer="NumPy").timed(
            protocol.time_calls(lambda: A @ B)))
        out.append(_torch_row(protocol, row, A, B))
        for system, way in GRAPHC_WAYS.items():
            out.append(_graphc_row(protocol, row, system, way, A, B, expected, footnotes))
    return out


def _torch_row(protocol, row, A, B) -> Row:
    try:
        import torch
    except ImportError as e:
        return row("torch a @ b", note=failure(e))
    tA, tB = torch.from_numpy(A), torch.from_numpy(B)
    return row("torch a @ b", peer="torch").timed(protocol.time_calls(lambda: tA @ tB))


def _graphc_row(protocol, row, system, way, A, B, expected, footnotes) -> Row:
    import graphc as gc
    n = A.shape[0]
    a, b = gc.tensor("a", (n, n)), gc.tensor("b", (n, n))
    try:
        f = gc.compile(a @ b, backend="cpu", matmul=way)
        got = f(a=A, b=B)  # compiles the kernels, and for "auto" measures BLAS vs generated
    except Exception as e:  # a broken way is a row that says so, not a lost table
        return row(system, note=failure(e))
    result = row(system).timed(protocol.time_calls(lambda: f(a=A, b=B)))
    err = float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))
    if err > 1e-4:
        result.note = f"WRONG: differs from NumPy by {err:.1e} (relative)"
    if way == "auto":
        runs = "; ".join(k.runs for k in f.kernels)
        footnotes.append(f"matmul n={n}, auto ran: {runs}")
        result.note = result.note or f"see note {len(footnotes)}"
    return result
