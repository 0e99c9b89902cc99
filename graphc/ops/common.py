"""Small helpers the op declarations share."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy

FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


def is_float(dtype: str) -> bool:
    return np.dtype(dtype).kind == "f"


def result_dtype(*dtypes: str) -> str:
    """NumPy promotion among tensor operands (Python scalars are weak and do not count)."""
    return np.result_type(*[np.dtype(d) for d in dtypes]).name if dtypes else "float32"


def float_operands(values, dtype: str) -> list:
    """The operands of a body whose result is the float `dtype`, integers and bools converted
    to it first: the body is float math (uint8 0 - 1 is -1.0, not 255.0; i ** -1 is 0.5 for
    every op alike), as the node's dtype promises."""
    if not is_float(dtype):
        return list(values)
    return [np.asarray(v).astype(dtype) if np.asarray(v).dtype.kind in "biu" else v
            for v in values]


def concrete(shape, dims: dict) -> tuple:
    """A symbolic shape as ints, given the sizes of the named dims."""
    return _concrete(tuple(shape), tuple(sorted(dims.items(), key=lambda kv: str(kv[0]))))


@lru_cache(maxsize=4096)  # the interpreter asks for the same few shapes on every call
def _concrete(shape: tuple, dims: tuple) -> tuple:
    out = []
    for d in shape:
        v = d.subs(dict(dims)) if getattr(d, "free_symbols", None) else sympy.Integer(d)
        if not v.is_integer:
            raise ValueError(f"shape entry {d} is not a whole number ({v}) for dims {dict(dims)}")
        out.append(int(v))
    return tuple(out)
