"""Straight-line bodies: literals, the dtype rules of statements, building, pruning and
renumbering. Mirrors graphc/ir/body.py."""
import numpy as np
import pytest
import sympy

from graphc.ir.body import (IGNORED, Body, BodyBuilder, Lit, Stmt, one_op, prune, remap_params,
                            statement_dtypes)
from graphc.ir.numpy_code import evaluate
from graphc.ir.scalar import ScalarFn
from graphc.ir.shapes import dim
from graphc.ops import elementwise as ew

x, y = sympy.symbols("x y")


def test_literals_keep_their_kind_and_sign():
    assert Lit(0.0) != Lit(-0.0) and Lit(1) != Lit(1.0) and Lit(2) == Lit(np.int64(2))
    assert len({Lit(0.0), Lit(-0.0), Lit(0)}) == 3
    assert Lit(float("nan")) == Lit(float("nan"))  # one literal, however often written
    assert Lit(sympy.Integer(3)).kind == "int" and Lit(sympy.Float(0.5)).kind == "float"
    B = dim("B")
    assert Lit(B).kind == "dim" and Lit(2 * B).weak({B: 5}) == 10
    assert str(Lit(0.1)) == "0.1" and str(Lit(-0.0)) == "-0.0"
    with pytest.raises(TypeError, match="real number"):
        Lit("three")


@pytest.mark.parametrize("fn,args,requested,expected", [
    (ew.ADD, ["float32", "float32"], None, ("float32", "float32")),
    (ew.ADD, ["float32", "float64"], None, ("float64", "float64")),
    # +, - and * keep integers, as NumPy, torch and JAX do; the rest of float math is float
    (ew.ADD, ["int8", "int8"], None, ("int8", "int8")),
    (ew.SUB, ["uint8", "int8"], None, ("int16", "int16")),
    (ew.MUL, ["bool", "int32"], None, ("int32", "int32")),
    (ew.NEG, ["int64"], None, ("int64", "int64")),
    (ew.MUL, ["int32", Lit(3)], None, ("int32", "int32")),  # an int literal is weak
    (ew.MUL, ["int32", Lit(0.5)], None, ("float32", "float32")),  # a float one is float math
    (ew.ADD, ["int32", "float32"], None, ("float32", "float32")),  # as torch, not NumPy
    (ew.ADD, ["bool", "bool"], None, ("float32", "float32")),  # bools alone are counted
    (ew.DIV, ["int8", "int8"], None, ("float32", "float32")),  # true division
    (ew.EXP, ["int64"], None, ("float32", "float32")),
    (ew.MUL, ["int8", Lit(300)], "int64", ("int64", "int64")),  # asked: converted first
    (ew.ADD, ["float16", Lit(0.5)], None, ("float16", "float16")),  # a literal is weak
    (ew.CAST, ["float64"], "int32", ("int32", "int32")),
    (ew.WHERE, ["bool", "int8", Lit(0.5)], None, ("float64", "float64")),  # NumPy's NEP 50
    (ew.WHERE, ["bool", "float32", Lit(0)], None, ("float32", "float32")),
])
def test_statement_dtypes_follow_the_kind_rules(fn, args, requested, expected):
    assert statement_dtypes(fn, args, requested) == expected


def test_compare_and_promote_kinds():
    gt = ScalarFn("greater", (x, y), sympy.Piecewise((1, x > y), (0, True)), kind="compare")
    assert statement_dtypes(gt, ["int8", Lit(0.5)]) == ("float64", "bool")
    assert statement_dtypes(gt, ["int8", "int16"]) == ("int16", "bool")
    with pytest.raises(ValueError, match="gives bool"):
        statement_dtypes(gt, ["int8", "int8"], "float32")
    mx = ScalarFn("maximum", (x, y), sympy.Max(x, y), kind="promote")
    assert statement_dtypes(mx, ["int8", "int32"]) == ("int32", "int32")
    assert statement_dtypes(mx, ["float32", Lit(2)]) == ("float32", "float32")


def test_a_body_is_checked_when_built():
    s = Stmt(ew.TANH, (0,), "float32", "float32")
    with pytest.raises(ValueError, match="not a parameter or an earlier statement"):
        Body(("float32",), (Stmt(ew.TANH, (1,), "float32", "float32"),), 1)
    with pytest.raises(ValueError, match="takes 1"):
        Body(("float32",), (Stmt(ew.TANH, (0, 0), "float32", "float32"),), 1)
    with pytest.raises(ValueError, match="not a value"):
        Body(("float32",), (s,), 2)


def chain(n: int) -> Body:
    """t = tanh(t) * 0.9, n times."""
    b = BodyBuilder()
    v = b.param("float32")
    for _ in range(n):
        v = b.apply(ew.MUL, [b.apply(ew.TANH, [v]), Lit(0.9)])
    return b.build(v)


def test_a_body_reads_as_one_line_per_statement():
    body = chain(2)
    assert body.lines() == ["t1 = tanh(x0)", "t2 = t1 * 0.9", "t3 = tanh(t2)", "t4 = t3 * 0.9",
                            "return t4"]
    assert body.name == "fused" and body.single is None and body.dtype == "float32"
    assert one_op(ew.ADD, ["float32", "float32"]).single.fn is ew.ADD


def test_body_size_grows_linearly_with_depth():
    for n in (10, 100, 1000):
        assert len(chain(n).stmts) == 2 * n
    a = np.linspace(-2, 2, 7).astype(np.float32)
    expected = a
    for _ in range(50):
        expected = (np.tanh(expected) * np.float32(0.9)).astype(np.float32)
    np.testing.assert_array_equal(evaluate(chain(50), [a], {}), expected)


def test_build_drops_statements_the_result_does_not_need_and_inline_binds_params():
    b = BodyBuilder()
    p = b.param("float64")
    b.apply(ew.EXP, [p])  # never used
    out = b.apply(ew.NEG, [p])
    body = b.build(out)
    assert [s.fn.name for s in body.stmts] == ["neg"]
    outer = BodyBuilder()
    q = outer.param("float64")
    r = outer.inline(body, [q])
    r2 = outer.inline(one_op(ew.MUL, ["float64", "float64"]), [r, q])
    assert [s.fn.name for s in outer.build(r2).stmts] == ["neg", "mul"]


def test_prune_drops_params_no_statement_reads():
    first = ScalarFn("first", (x, y), 2 * x)  # reads x only
    body = one_op(first, ["float32", "float64"])
    assert body.reads() == [True, False]
    pruned, kept = prune(body)
    assert kept == [0] and pruned.n_params == 1 and pruned.stmts[0].args == (0, IGNORED)
    np.testing.assert_array_equal(evaluate(pruned, [np.float32([1, 2])], {}), [2, 4])


def test_remap_params_renumbers_without_evaluating():
    body = one_op(ew.SUB, ["float32", "float32"])
    same = remap_params(body, ["float32"], [0, 0])  # x - x, read through one param
    assert same.stmts[0].args == (0, 0) and same.lines()[0] == "t1 = x0 - x0"
    inf = np.array([np.inf, 1.0], np.float32)
    np.testing.assert_array_equal(np.isnan(evaluate(same, [inf], {})), [True, False])
