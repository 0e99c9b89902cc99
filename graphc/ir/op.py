"""The op table: each op is declared once, with its shape rule, reference, gradient and cost.

The table is filled explicitly: `graphc.ops.install()` registers the declarations listed in
graphc/ops/__init__.py, and `import graphc` calls it. Nothing registers itself on import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

KINDS = ("source", "elementwise", "reduce", "normalize", "contract", "layout", "index")


@dataclass(frozen=True)
class OpDef:
    """One op.

    - `infer(inputs, attrs) -> (shape, dtype)` raises ShapeError on a mismatch;
    - `reference(values, node, dims) -> ndarray` is the NumPy oracle (the interpreter casts
      its result to the node's dtype, or keeps float64 when checking gradients);
    - `vjp(node, g)` returns one cotangent node (or None for zero) per input, of the node's
      output shape or broadcastable to the input (the autodiff driver reduces broadcasts);
      None means the op has no gradient, except for fused ops, which the autodiff driver
      differentiates by expanding them into the ops they stand for (`fused=True`);
    - `flops(node)` is its arithmetic per call as a sympy expression in the symbolic dims
      (graphc.cost adds the bytes it moves);
    - `kind` is the family, the one place passes, cost, drawings and backends learn which ops
      are layout views ("layout"), reductions ("reduce"), normalizations along an axis
      ("normalize": softmax), contractions ("contract"), sources, elementwise bodies and
      index ops.
    """

    name: str
    kind: str
    infer: Callable
    reference: Callable
    vjp: Optional[Callable] = None
    flops: Optional[Callable] = None
    fused: bool = False
    doc: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"op {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")


OPS: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    known = OPS.get(opdef.name)
    if known is not None and known is not opdef:
        raise ValueError(f"op {opdef.name!r} is declared twice")
    OPS[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        if not OPS:
            raise RuntimeError("the op table is empty: `import graphc` (or call "
                               "graphc.ops.install()) before building graphs") from None
        raise ValueError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None


def kind_of(node) -> str:
    return get_op(node.op).kind


def is_layout(node) -> bool:
    """reshape, transpose, broadcast_to: index changes, no arithmetic."""
    return get_op(node.op).kind == "layout"


def is_reduction(node) -> bool:
    return get_op(node.op).kind == "reduce"


def is_contraction(node) -> bool:
    return get_op(node.op).kind == "contract"
