"""The user API of graphc.dsl: tensors and their attributes, operators with Python numbers,
the NumPy-named functions, losses, gc.apply and gc.elementwise."""
import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.ir.graph import topo_order
from graphc.ir.shapes import dim

RNG = np.random.default_rng(9)


def test_tensor_attributes():
    x = gc.tensor("x", ("B", 784))
    assert x.name == "x" and x.dtype == "float32" and x.ndim == 2
    assert x.shape == (dim("B"), 784)
    assert isinstance(x.shape[0], sympy.Symbol) and isinstance(x.shape[1], sympy.Integer)
    assert gc.tensor("s", ()).shape == () and gc.tensor("v", 5).shape == (5,)
    assert gc.tensor("d", (3,), dtype=np.float64).dtype == "float64"


def test_the_issues_example_runs():
    x = gc.tensor("x", ("B", 784))
    y = gc.tensor("y", ("B",), dtype="int64")
    W, b = gc.tensor("W", (784, 10)), gc.tensor("b", (10,))
    logits = x @ W + b
    loss = gc.cross_entropy(logits, y)
    gW, gb = gc.grad(loss, [W, b])
    assert gc.to_dot([loss, gW, gb]).startswith("digraph")
    f = gc.compile([loss, gW, gb], backend="reference")
    X = RNG.standard_normal((8, 784)).astype(np.float32)
    Y = RNG.integers(0, 10, 8)
    loss_v, gW_v, gb_v = f(x=X, y=Y, W=np.zeros((784, 10), np.float32),
                           b=np.zeros(10, np.float32))
    # zero weights: uniform predictions, loss log 10; dL/db = mean(1/10 - onehot)
    np.testing.assert_allclose(loss_v, np.log(10), rtol=1e-6)
    np.testing.assert_allclose(gb_v, 0.1 - np.bincount(Y, minlength=10) / 8, atol=1e-7)
    assert gW_v.shape == (784, 10) and gW_v.dtype == np.float32


@pytest.mark.parametrize("build,ref", [
    (lambda a, b: a + b, lambda a, b: a + b),
    (lambda a, b: a - b, lambda a, b: a - b),
    (lambda a, b: a * b, lambda a, b: a * b),
    (lambda a, b: a / b, lambda a, b: a / b),
    (lambda a, b: a ** b, lambda a, b: a ** b),
    (lambda a, b: -a, lambda a, b: -a),
    (lambda a, b: +a, lambda a, b: +a),
    (lambda a, b: a @ b.T, lambda a, b: a @ b.T),
    (lambda a, b: a.T @ b, lambda a, b: a.T @ b),
    (lambda a, b: (a * b).sum(), lambda a, b: (a * b).sum()),
    (lambda a, b: (a * b).sum(axis=1, keepdims=True), lambda a, b: (a * b).sum(1, keepdims=True)),
    (lambda a, b: a.mean(0), lambda a, b: a.mean(0)),
    (lambda a, b: a.max(axis=(0, 1)), lambda a, b: a.max(axis=(0, 1))),
    (lambda a, b: a.reshape(-1), lambda a, b: a.reshape(-1)),
    (lambda a, b: a.reshape(6, 2), lambda a, b: a.reshape(6, 2)),
], ids=["+", "-", "*", "/", "**", "neg", "pos", "@T", "T@", "sum", "sum1", "mean0", "max",
        "reshape-1", "reshape"])
def test_operators_and_methods_match_numpy(build, ref):
    a, b = gc.tensor("a", (3, 4), "float64"), gc.tensor("b", (3, 4), "float64")
    va, vb = RNG.uniform(0.5, 2, (3, 4)), RNG.uniform(0.5, 2, (3, 4))
    out = build(a, b)
    # the operator form does not need both inputs: compile with both all the same
    np.testing.assert_allclose(gc.compile(out, inputs=[a, b])(a=va, b=vb), ref(va, vb),
                               rtol=1e-12)


def test_functions_match_operators():
    a, b = gc.tensor("a", (3,), "float64"), gc.tensor("b", (3,), "float64")
    va, vb = RNG.uniform(0.5, 2, 3), RNG.uniform(0.5, 2, 3)
    pairs = [(gc.add(a, b), a + b), (gc.sub(a, b), a - b), (gc.mul(a, b), a * b),
             (gc.div(a, b), a / b), (gc.pow(a, b), a ** b), (gc.neg(a), -a),
             (gc.matmul(a, b), a @ b)]
    f = gc.compile([p for p, _ in pairs] + [q for _, q in pairs])
    res = f(a=va, b=vb)
    n = len(pairs)
    for k in range(n):
        np.testing.assert_array_equal(res[k], res[n + k])


def test_each_function_builds_one_node():
    x = gc.tensor("x", (3,))
    for f in (gc.exp, gc.log, gc.sqrt, gc.tanh, gc.sigmoid, gc.relu, gc.gelu, gc.neg):
        y = f(x)
        assert y.op == "elementwise" and y.inputs == (x,) and y.attrs["body"].name == f.__name__


def test_python_number_first_operands():
    x = gc.tensor("x", (3,), "float64")
    a = np.array([0.5, 1.0, 2.0])
    out = gc.compile([2.0 * x, 1 - x, 3 / x, 2 ** x, 1 + x, x ** 2])(x=a)
    for got, want in zip(out, [2 * a, 1 - a, 3 / a, 2 ** a, 1 + a, a ** 2]):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    # numbers fold into one node: 1 - x reads only x
    assert [n.op for n in topo_order([1 - x])] == ["input", "elementwise"]


def test_only_numbers_make_a_constant_graph():
    c = gc.add(2.0, 3.0)
    assert float(gc.compile(c)()) == 5.0


def test_softmax_and_log_softmax():
    x = gc.tensor("x", ("B", 4), "float64")
    a = RNG.standard_normal((3, 4))
    s, ls = gc.compile([gc.softmax(x), gc.log_softmax(x, axis=-1)])(x=a)
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(s, e / e.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(ls, np.log(e / e.sum(1, keepdims=True)), rtol=1e-12)


def test_mean_over_a_symbolic_batch():
    x = gc.tensor("x", ("B", 3))
    m = gc.mean(x, axis=0)
    f = gc.compile([m, x.mean()])
    for batch in (2, 5):
        a = RNG.standard_normal((batch, 3)).astype(np.float32)
        m0, mall = f(x=a)
        np.testing.assert_allclose(m0, a.mean(0), rtol=1e-6)
        np.testing.assert_allclose(mall, a.mean(), rtol=1e-5, atol=1e-7)
    # the divisor is the symbolic count, bound at call time
    assert dim("B") in m.attrs["body"].dim_symbols()
    assert m.attrs["body"].lines()[0] == "t1 = x0 / B"


def test_mse_loss_reductions():
    p, t = gc.tensor("p", (4,), "float64"), gc.tensor("t", (4,), "float64")
    vp, vt = RNG.standard_normal(4), RNG.standard_normal(4)
    mean, total, each = gc.compile([gc.mse_loss(p, t), gc.mse_loss(p, t, reduction="sum"),
                                    gc.mse_loss(p, t, reduction="none")])(p=vp, t=vt)
    np.testing.assert_allclose(each, (vp - vt) ** 2, rtol=1e-14)
    np.testing.assert_allclose(mean, ((vp - vt) ** 2).mean(), rtol=1e-14)
    np.testing.assert_allclose(total, ((vp - vt) ** 2).sum(), rtol=1e-14)
    with pytest.raises(ValueError, match="mse_loss: reduction must be"):
        gc.mse_loss(p, t, reduction="avg")


def test_cross_entropy_over_extra_axes_and_reductions():
    logits = gc.tensor("logits", (2, 3, 5), "float64")
    labels = gc.tensor("labels", (2, 3), "int32")
    z = RNG.standard_normal((2, 3, 5))
    y = RNG.integers(0, 5, (2, 3)).astype(np.int32)
    each, mean = gc.compile([gc.cross_entropy(logits, labels, reduction="none"),
                             gc.cross_entropy(logits, labels)])(logits=z, labels=y)
    lsm = z - np.log(np.exp(z).sum(-1, keepdims=True))
    want = -np.take_along_axis(lsm, y[..., None].astype(np.int64), -1)[..., 0]
    np.testing.assert_allclose(each, want, rtol=1e-12)
    np.testing.assert_allclose(mean, want.mean(), rtol=1e-12)


def test_apply_folds_numbers_into_the_body():
    from graphc.ops.elementwise import POW
    x = gc.tensor("x", (3,))
    y = gc.apply(POW, x, 3)
    assert y.inputs == (x,) and y.attrs["body"].lines()[0] == "t1 = x0 ** 3"
    np.testing.assert_allclose(gc.compile(y)(x=np.array([1.0, 2.0, 3.0])), [1, 8, 27])


def test_elementwise_decorator_and_name():
    softplus = gc.elementwise(lambda x: sympy.log(1 + sympy.exp(x)), "softplus")
    assert softplus.__name__ == "softplus" and "softplus" in softplus.__doc__

    def swish(x):
        return x * (1 + sympy.tanh(x / 2)) / 2
    sw = gc.elementwise(swish)
    assert sw.fn.name == "swish" and gc.elementwise(lambda x: x * 2).fn.name == "custom"
    x = gc.tensor("x", (5,), "float64")
    a = np.linspace(-3, 3, 5)
    sp, s = gc.compile([softplus(x), sw(x)])(x=a)
    np.testing.assert_allclose(sp, np.log1p(np.exp(a)), rtol=1e-12)
    np.testing.assert_allclose(s, a / (1 + np.exp(-a)), rtol=1e-12)
    assert gc.check_grad(gc.sum(sw(x) * softplus(x)), [x], {"x": a})["x"] < 1e-8


def test_constant_and_array_operands():
    x = gc.tensor("x", (2, 2), "float64")
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = gc.compile([x @ m, m @ x, x + [1.0, 2.0]])(x=np.eye(2))
    np.testing.assert_array_equal(out[0], m)
    np.testing.assert_array_equal(out[1], m)
    np.testing.assert_array_equal(out[2], np.eye(2) + [1.0, 2.0])


def test_integer_tensors():
    i = gc.tensor("i", (3,), "int64")
    f = gc.compile(gc.astype(i, "float64") * 0.5)
    np.testing.assert_array_equal(f(i=np.array([1, 2, 3], np.int32)), [0.5, 1.0, 1.5])


def test_numpy_integer_sizes_and_bad_transpose_axes():
    x = gc.tensor("x", ("B", 6))
    assert gc.reshape(x, (np.int64(-1), 3)).shape == (2 * dim("B"), 3)  # as ndarray.reshape
    assert gc.reshape(gc.tensor("v", (2, 3)), np.int64(6)).shape == (6,)
    # int() would make axis 1.5 into 1 and 'a' into an "invalid literal" message
    for axes in [(1.5, 0), ("a", "b")]:
        with pytest.raises(gc.ShapeError, match="transpose: axes must be ints"):
            gc.transpose(x, axes)


def test_dtypes_a_backend_cannot_hold_and_none_are_type_errors():
    with pytest.raises(TypeError, match="tensor: dtype must be given, got None"):
        gc.tensor("x", (3,), None)  # np.dtype(None) would silently be float64
    with pytest.raises(TypeError, match="astype: dtype must be a float or integer type.*"
                                        "longdouble|float128"):
        gc.astype(gc.tensor("x", (3,)), np.longdouble)


def test_ragged_nested_lists_are_type_errors_naming_the_op():
    with pytest.raises(TypeError, match="constant: cannot read list as an array"):
        gc.constant([[1.0], [2.0, 3.0]])
    with pytest.raises(TypeError, match="add: cannot read list as an array"):
        gc.tensor("x", (2,)) + [[1.0], [2.0, 3.0]]


def test_elementwise_bodies_must_be_sympy_in_their_parameters():
    x = gc.tensor("x", (3,))
    with pytest.raises(ValueError, match="at least one parameter"):
        gc.elementwise(lambda: sympy.Integer(1))
    with pytest.raises(TypeError, match=r"sympy.exp, not np.exp"):
        gc.elementwise(lambda a: np.exp(a))
    # a symbol no call can ever bind fails while building, not at the first call
    with pytest.raises(ValueError, match="scaled: the expression k\\*x mentions k"):
        gc.elementwise(lambda a: a * sympy.Symbol("k"), "scaled")
    with pytest.raises(ValueError, match="mul: the expression q mentions q"):
        x * sympy.Symbol("q")
    # a symbolic dim is fine (a mean's x / B)
    b = gc.tensor("b", ("B",))
    assert gc.compile(b * (1 / b.shape[0]))(b=np.ones(4)).sum() == pytest.approx(1.0)


def test_a_user_l1_loss_differentiates_through_abs():
    l1 = gc.elementwise(lambda d: sympy.Abs(d), "abs")
    x = gc.tensor("x", (4,), "float64")
    errs = gc.check_grad(gc.sum(l1(x - 0.5) * x), [x], {"x": np.array([-1.0, 0.2, 0.9, 2.0])})
    assert errs["x"] < 1e-7


def test_mean_over_an_empty_axis_is_nan_as_numpy():
    z = gc.tensor("z", (0, 3))  # np.ones((0, 3)).mean(axis=0) is [nan, nan, nan]
    np.testing.assert_array_equal(gc.compile(gc.mean(z, axis=0))(z=np.ones((0, 3))),
                                  np.full(3, np.nan, np.float32))
