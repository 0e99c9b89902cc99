"""The op table: each op is declared once, with its shape rule, reference and gradient."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

OPS: dict[str, "OpDef"] = {}


@dataclass(frozen=True)
class OpDef:
    """One op. `infer(inputs, attrs) -> (shape, dtype)` raises ShapeError on a mismatch;
    `reference(values, node, dims) -> ndarray` is the NumPy oracle (the interpreter casts
    its result to the node's dtype, or keeps float64 when checking gradients); `vjp(node, g)` returns one
    cotangent node (or None for zero) per input, of the node's output shape or broadcastable to
    the input (the autodiff driver reduces broadcasts); `kind` groups ops for passes, cost
    and backends: source, elementwise, reduce, contract, layout, index."""

    name: str
    kind: str
    infer: Callable
    reference: Callable
    vjp: Optional[Callable] = None
    doc: str = ""


def register(opdef: OpDef) -> OpDef:
    if opdef.name in OPS:
        raise ValueError(f"op {opdef.name!r} is declared twice")
    OPS[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    if not OPS:
        from .. import ops  # noqa: F401  (the declarations register themselves)
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None
