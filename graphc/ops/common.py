"""Small helpers the op declarations share."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.body import Body, Stmt

FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


class IndexOutOfRange(ShapeError, IndexError):
    """An index or slice bound outside its axis, found while the graph is built: a
    gc.ShapeError, and an IndexError as NumPy raises for the same index."""


def is_float(dtype: str) -> bool:
    return np.dtype(dtype).kind == "f"


def result_dtype(*dtypes: str) -> str:
    """NumPy promotion among tensor operands (Python scalars are weak and do not count)."""
    return np.result_type(*[np.dtype(d) for d in dtypes]).name if dtypes else "float32"


def evaluate_body(body, values, dims):
    """The NumPy printer's evaluation of `body` (imported on first use: sympy's code printers
    cost a tenth of a second at import, and `import graphc` needs none)."""
    from ..ir.numpy_code import evaluate
    return evaluate(upcast_for(body, values), values, dims)


def upcast_for(body, values):
    """`body`, or its float64 twin when float values arrive wider than it declares (the
    reference interpreter's upcast mode, which gc.check_grad runs in)."""
    if any(np.asarray(v).dtype == np.float64 and d != "float64" and is_float(d)
           for v, d in zip(values, body.param_dtypes)):
        return upcast_body(body)
    return body


@lru_cache(maxsize=256)
def upcast_body(body):
    def up(d):
        return "float64" if is_float(d) else d
    stmts = tuple(Stmt(s.fn, s.args, up(s.dtype), up(s.compute)) for s in body.stmts)
    return Body(tuple(up(d) for d in body.param_dtypes), stmts, body.result)


def concrete(shape, dims: dict) -> tuple:
    """A symbolic shape as ints, given the sizes of the named dims."""
    return _concrete(tuple(shape), tuple(sorted(dims.items(), key=lambda kv: str(kv[0]))))


@lru_cache(maxsize=4096)  # the interpreter asks for the same few shapes on every call
def _concrete(shape: tuple, dims: tuple) -> tuple:
    out = []
    for d in shape:
        v = d.subs(dict(dims)) if getattr(d, "free_symbols", None) else sympy.Integer(d)
        if not v.is_integer or v < 0:
            raise ValueError(f"shape entry {d} is not a whole number >= 0 ({v}) for dims "
                             f"{dict(dims)}")
        out.append(int(v))
    return tuple(out)
