"""Nodes: immutable, built through their op's shape rule, structural keys for CSE, origin
marks. Mirrors graphc/ir/node.py."""
import dataclasses

import numpy as np
import pytest

import graphc as gc
from graphc.ir.body import Lit, one_op
from graphc.ir.node import Attrs, Const, building, make, rebuild
from graphc.ops.elementwise import ADD, MUL


def test_nodes_are_frozen():
    x = gc.tensor("x", (3,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.shape = (4,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.op = "constant"


def test_attrs_are_an_immutable_hashable_mapping():
    a = Attrs({"b": 2, "a": 1})
    assert a.items() == (("a", 1), ("b", 2)) and a["a"] == 1 and a.get("c", 7) == 7
    assert "b" in a and "c" not in a
    assert a == Attrs({"a": 1, "b": 2}) and hash(a) == hash(Attrs({"a": 1, "b": 2}))
    changed = a.replace(a=5, b=None, c=3)
    assert changed.as_dict() == {"a": 5, "c": 3} and a.as_dict() == {"a": 1, "b": 2}
    with pytest.raises(KeyError):
        a["zz"]


def test_const_is_hashable_by_content_and_read_only():
    src = np.arange(4.0)
    c = Const(src)
    src[0] = 9.0
    assert c.array[0] == 0.0 and not c.array.flags.writeable
    assert c == Const(np.arange(4.0)) and hash(c) == hash(Const(np.arange(4.0)))
    assert c != Const(np.arange(4.0).astype(np.float32))
    assert c != Const(np.arange(4.0).reshape(2, 2))
    assert repr(Const(np.float64(2.5))) == "2.5"


def test_make_runs_the_shape_rule():
    a, b = gc.tensor("a", ("B", 1)), gc.tensor("b", (4,), "float64")
    n = make("elementwise", (a, b), body=one_op(ADD, ["float32", "float64"]))
    assert n.shape == (a.shape[0], 4) and n.dtype == "float64"
    with pytest.raises(gc.ShapeError, match="add"):
        make("elementwise", (a, gc.tensor("c", (3, 5))), body=one_op(ADD, ["float32"] * 2))
    with pytest.raises(ValueError, match="operand 1 is float64, the body reads float32"):
        make("elementwise", (a, b), body=one_op(ADD, ["float32"] * 2))
    with pytest.raises(ValueError, match="unknown op 'frobnicate'"):
        make("frobnicate", (a,))


def test_equality_is_identity_and_key_is_structure():
    x = gc.tensor("x", (3,))
    p, q = x * 2.0, x * 2.0
    assert p is not q  # two nodes, even if built alike
    # == and != build comparisons (as NumPy's arrays); nodes hash by identity
    assert (p != q).dtype == "bool" and (p == q).op == "elementwise"
    assert len({p, q, p}) == 2 and {p: 1}[p] == 1
    assert p.key == q.key and hash(p.key) == hash(q.key)
    assert p.key != (x * 3.0).key


def test_rebuild():
    x, y = gc.tensor("x", (3,)), gc.tensor("y", (3,))
    n = make("elementwise", (x, x), body=one_op(MUL, ["float32"] * 2))
    assert rebuild(n) is n and rebuild(n, inputs=(x, x)) is n
    m = rebuild(n, inputs=(x, y))
    assert m.op == n.op and m.inputs[0] is x and m.inputs[1] is y and m.attrs == n.attrs
    s = gc.sum(gc.tensor("z", (2, 3)), axis=1)
    s2 = rebuild(s, keepdims=True)
    assert s2.shape == (2, 1)  # the shape rule re-ran
    f = make("fused_reduce", (x,), reduce="sum", body=one_op(MUL, ["float32", Lit(2)]),
             axes=(0,), keepdims=False, epilogue=one_op(MUL, ["float32", Lit(3)]))
    assert "epilogue" not in rebuild(f, epilogue=None).attrs  # None deletes the attribute


def test_building_marks_the_origin():
    x = gc.tensor("x", (3,))
    with building("grad"):
        g = x * 2.0
        with building("forward"):
            f = x + 1.0
        g2 = x - 1.0
    assert (x.origin, g.origin, f.origin, g2.origin) == ("forward", "grad", "forward", "grad")
    assert (x * 3.0).origin == "forward"


def test_tensor_protocol_errors_and_repr():
    x = gc.tensor("x", ("B", 3))
    with pytest.raises(TypeError, match="truth value"):
        bool(x)
    with pytest.raises(TypeError, match="symbolic shape"):
        len(x)
    with pytest.raises(TypeError, match="not iterable"):
        list(x)
    assert repr(x) == "<input:x (B, 3) float32>"
    assert x.ndim == 2 and (x * 2).name is None
