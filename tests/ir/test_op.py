"""The op table: every op declared once, with a kind, a shape rule, a reference and (where
a gradient exists) a vjp. Mirrors graphc/ir/op.py."""
import pytest

import graphc  # noqa: F401  (registers the ops)
from graphc.ir.op import OPS, OpDef, get_op, register

CORE = {"input", "constant", "one_hot", "elementwise", "sum", "max", "logsumexp", "matmul",
        "einsum", "reshape", "transpose", "broadcast_to"}
KINDS = {"source", "index", "elementwise", "reduce", "contract", "layout"}


def test_core_ops_are_declared_with_their_parts():
    assert CORE <= set(OPS)
    for name in CORE:
        op = get_op(name)
        assert op.name == name and op.kind in KINDS and callable(op.infer)
        assert callable(op.reference) and op.doc
        # sources and integer indexing carry no gradient; everything else has a vjp
        assert (op.vjp is None) == (op.kind in ("source", "index")), name


def test_declaring_an_op_twice_is_an_error():
    with pytest.raises(ValueError, match="declared twice"):
        register(OpDef("matmul", "contract", lambda i, a: None, lambda v, n, d: None))


def test_unknown_op_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown op 'nope'.*matmul"):
        get_op("nope")
