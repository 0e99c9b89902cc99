"""The NumPy printer of bodies: one line per statement, dtypes exactly as the statements say,
literals weak, dims bound by name, a bounded cache. Mirrors graphc/ir/numpy_code.py."""
import numpy as np
import sympy

from graphc.ir import numpy_code
from graphc.ir.body import BodyBuilder, Lit, one_op
from graphc.ir.numpy_code import body_source, evaluate
from graphc.ir.scalar import ScalarFn
from graphc.ir.shapes import dim
from graphc.ops import elementwise as ew


def test_source_is_one_readable_line_per_statement():
    b = BodyBuilder()
    x0, x1 = b.param("float32"), b.param("int64")
    t = b.apply(ew.ADD, [b.apply(ew.TANH, [x0]), x1])
    src = body_source(b.build(b.apply(ew.MUL, [t, Lit(-0.5)])))
    assert src.splitlines() == ["def body(x0, x1):",
                                "    t2 = tanh(x0)",
                                "    t3 = t2 + x1.astype(float32)",  # converted, as the node was
                                "    t4 = t3*float32(-0.5)",
                                "    return t4"]


def test_float32_stays_float32_with_literals_and_constants():
    body = one_op(ew.GELU, ["float32"])  # x/2 * (1 + erf(x / sqrt(2)))
    out = evaluate(body, [np.float32([0.5, -1.0])], {})
    assert out.dtype == np.float32
    scaled = one_op(ew.MUL, ["float32", Lit(0.1)])
    out = evaluate(scaled, [np.float32([3.0])], {})
    assert out.dtype == np.float32 and out[0] == np.float32(3.0) * np.float32(0.1)


def test_results_numpy_would_give_in_another_dtype_are_converted():
    div = one_op(ew.DIV, ["int64", Lit(2)], "int64")  # integer arithmetic, asked for
    assert "astype(int64)" in body_source(div)
    assert evaluate(div, [np.array([7])], {}).dtype == np.int64
    mask = one_op(ew.EQUAL, ["float32", "float32"])  # an indicator is a float 0/1
    out = evaluate(mask, [np.float32([1, 2]), np.float32([1, 3])], {})
    assert out.dtype == np.float32 and list(out) == [1.0, 0.0]


def test_statements_are_not_simplified():
    b = BodyBuilder()
    p, q = b.param("float64"), b.param("float64")
    s = b.apply(ew.ADD, [p, q])
    body = b.build(b.apply(ew.SUB, [q, b.apply(ew.SUB, [s, p])]))  # TwoSum's error term
    a, c = np.array([1e16]), np.array([1.0])
    assert evaluate(body, [a, c], {})[0] == 1.0  # b - ((a + b) - a), not 0


def test_dims_bind_by_name_and_a_dim_named_like_a_value_is_renamed():
    B, X0, E = dim("B"), dim("x0"), dim("e")
    body = one_op(ScalarFn("f", (sympy.Symbol("x"),), sympy.Symbol("x") * X0 / E), ["float64"])
    src = body_source(one_op(ew.DIV, ["float64", Lit(B)]))
    assert "t1 = x0/float64(B)" in src and "def body(x0, B)" in src
    assert "dim_x0" in body_source(body) and "dim_e" in body_source(body)
    np.testing.assert_allclose(evaluate(body, [np.array([6.0])], {X0: 2, E: 4}), [3.0])
    mean = one_op(ew.DIV, ["float32", Lit(B)])
    assert np.isnan(evaluate(mean, [np.float32(0)], {B: 0}))  # 0 / 0: an empty mean is nan


def test_a_body_of_literals_alone_has_its_dtype():
    b = BodyBuilder()
    out = evaluate(b.build(b.apply(ew.DIV, [Lit(1), Lit(dim("B"))])), [], {dim("B"): 4})
    assert out.dtype == np.float32 and float(out) == 0.25


def test_the_cache_is_bounded():
    before = numpy_code.CACHE_SIZE
    numpy_code.CACHE_SIZE = 8
    try:
        for k in range(30):
            evaluate(one_op(ew.MUL, ["float64", Lit(k + 0.5)]), [np.ones(1)], {})
        assert len(numpy_code._CACHE) <= 8
    finally:
        numpy_code.CACHE_SIZE = before
