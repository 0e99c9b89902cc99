import numpy as np
import pytest

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.shapes import dim
from graphc.passes.cse import eliminate_common_subexpressions
from graphc.passes.pipeline import optimize
from graphc.passes.simplify import RULES, simplify

RNG = np.random.default_rng(0)


def run(outputs, passes=(simplify,)):
    """(raw graph, simplified graph, {rule: times fired})."""
    raw = gc.Graph.of(outputs if isinstance(outputs, list) else [outputs])
    out, report = optimize(raw, list(passes))
    fired = {}
    for r in report:
        for k, v in r.changes.items():
            fired[k] = fired.get(k, 0) + v
    return raw, out, fired


def same_values(raw, out, feeds, dims=None):
    """Bit for bit: every rule here is exact (NaN where NaN, the same signed zeros)."""
    with np.errstate(all="ignore"):
        before = evaluate(raw.outputs, feeds, dims or {})
        after = evaluate(out.outputs, feeds, dims or {})
    for b, a in zip(before, after):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -2.5, 3e38, 1e-45])


def ops(graph):
    return [n.op for n in graph.nodes()]


def test_rules_are_a_table_with_unique_names_and_identities():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(r.identity and callable(r.apply) for r in RULES)


@pytest.mark.parametrize("make,rule", [
    (lambda x: x * gc.constant(1.0, "float64"), "neutral_literal"),   # x*1 = x
    (lambda x: gc.constant(-0.0, "float64") + x, "neutral_literal"),  # -0+x = x
    (lambda x: x - gc.constant(0.0, "float64"), "neutral_literal"),   # x-0 = x
    (lambda x: x / gc.constant(1.0, "float64"), "neutral_literal"),   # x/1 = x
    (lambda x: x ** 1, "neutral_literal"),                            # x**1 = x
    (lambda x: x * 1.0, "neutral_literal"),                           # 1.0*x = x
    (lambda x: gc.neg(gc.neg(x)), "neg_neg"),                         # --x = x
    (lambda x: gc.astype(gc.astype(x, "float64"), "float64"), None),  # built once
    (lambda x: x.T.T, "transpose_transpose"),                         # (xᵀ)ᵀ = x
    (lambda x: x.reshape(6, "B").reshape("B", 6), "reshape_reshape"),
    (lambda x: gc.stop_gradient(x), "drop_stop_gradient"),
])
def test_exact_identities_give_back_x(make, rule):
    x = gc.tensor("x", ("B", 6), dtype="float64")
    raw, out, fired = run(make(x))
    assert out.outputs[0] is x
    assert rule is None or fired.get(rule, 0) >= 1
    feeds = np.resize(SPECIAL, (4, 6)).astype(np.float64)
    same_values(raw, out, {"x": feeds}, {dim("B"): 4})


@pytest.mark.parametrize("make", [
    lambda x: x - x, lambda x: x / x, lambda x: x * 0.0, lambda x: gc.exp(gc.log(x)),
    lambda x: gc.log(gc.exp(x)), lambda x: x + 0.0, lambda x: 0.0 + x, lambda x: (x * 2.0) / 2.0,
    lambda x: (x + 1.0) - x, lambda x: x * gc.constant(0.0),
])
def test_algebra_that_changes_values_does_not_run_by_default(make):
    # each is true of real numbers and false of floats somewhere in SPECIAL: the default
    # pipeline must give what opt_level=0 gives, bit for bit
    x = gc.tensor("x", (8,))
    y = make(x)
    f0, f2 = gc.compile(y, opt_level=0), gc.compile(y)
    a = SPECIAL.astype(np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f2(x=a), f0(x=a))
        np.testing.assert_array_equal(np.signbit(f2(x=a)), np.signbit(f0(x=a)))


def test_two_sum_error_term_survives_the_default_pipeline():
    a, b = gc.tensor("a", (3,), "float64"), gc.tensor("b", (3,), "float64")
    err = b - ((a + b) - a)
    f = gc.compile(err)
    va, vb = np.array([1e16, 1.0, 3.0]), np.array([1.0, 1e-17, 4.0])
    np.testing.assert_array_equal(f(a=va, b=vb), vb - ((va + vb) - va))
    assert f(a=va, b=vb)[0] == 1.0


def test_multiplying_by_a_broadcast_one_keeps_the_broadcast_shape():
    x = gc.tensor("x", (6,))
    ones = gc.broadcast_to(gc.constant(1.0), ("B", 6))
    raw, out, fired = run(x * ones)
    assert ops(out) == ["input", "broadcast_to"] and out.outputs[0].inputs[0] is x
    assert out.outputs[0].shape == (dim("B"), 6)
    same_values(raw, out, {"x": RNG.normal(size=6).astype(np.float32)}, {dim("B"): 3})


def test_uniform_constants_become_literals_of_the_statement_in_its_dtype():
    x = gc.tensor("x", (3,), dtype="float32")
    third = gc.constant(1 / 3, dtype="float64")  # x * (1/3) computes in float64
    half = gc.broadcast_to(gc.constant(0.5), (3,))
    raw, out, fired = run([x * third, x * half, x * gc.constant(1.0, dtype="float64")])
    wide, short, cast = out.outputs
    assert wide.inputs == (x,) and wide.dtype == "float64"
    assert wide.attrs["body"].lines()[0] == "t1 = x0 * 0.3333333333333333"
    assert short.inputs == (x,) and short.attrs["body"].lines()[0] == "t1 = x0 * 0.5"
    assert cast.inputs == (x,) and cast.dtype == "float64"  # x * 1.0 in float64 stays a cast
    same_values(raw, out, {"x": np.array([1e-3, 1.0, 7.0], np.float32)})


def test_a_zero_divisor_becomes_a_literal_with_the_same_infinities():
    x = gc.tensor("x", (4,), dtype="float64")
    raw, out, fired = run([x / gc.constant(0.0, "float64"),
                           gc.tanh(x) / gc.broadcast_to(gc.constant(-0.0, "float64"), (4,))])
    assert all(o.op == "elementwise" and len(o.inputs) == 1 for o in out.outputs)
    same_values(raw, out, {"x": np.array([-1.0, 0.0, 2.0, np.inf])})


def test_integer_sums_of_broadcasts_are_multiples_and_floats_are_left():
    b = gc.tensor("b", (4,), dtype="int8")
    f = gc.tensor("f", (4,), dtype="float32")
    outs = [gc.sum(gc.broadcast_to(b, (300, 4)), axis=0),   # 300 * b in int64
            gc.mean(gc.broadcast_to(gc.tensor("m", (4,), "bool"), (3, 4)), axis=0),
            gc.sum(gc.broadcast_to(f, (3, 4)), axis=0),     # f+f+f is not 3*f in floats
            gc.max(gc.broadcast_to(f, (2, 4)), axis=0)]     # f
    raw, out, fired = run(outs)
    # (a mean of bools sums them in float64, as NumPy: a float sum of a broadcast, left)
    assert fired["integer_sum_of_broadcast"] == 1 and fired["max_of_broadcast"] == 1
    assert out.outputs[2].op == "sum" and out.outputs[3] is f
    assert [o.dtype for o in out.outputs] == ["int64", "float32", "float32", "float32"]
    feeds = {"b": np.array([1, -128, 127, 5], np.int8), "f": np.float32([0.1, 1e38, -0.0, 3]),
             "m": np.array([True, False, True, True])}
    same_values(raw, out, feeds)
    values = evaluate(out.outputs, feeds, {})
    np.testing.assert_array_equal(values[0], [300, -38400, 38100, 1500])
    np.testing.assert_array_equal(values[1], [1, 0, 1, 1])


def test_a_reduction_over_no_axes_that_changes_the_dtype_stays():
    i = gc.tensor("i", (3,), "int8")
    raw, out, _ = run([gc.sum(i, axis=()), gc.logsumexp(gc.tensor("j", (2,), "int64"), axis=())])
    assert [o.dtype for o in out.outputs] == ["int64", "float32"]


def test_transpose_of_matmul_moves_the_transpose_where_it_cancels():
    c, b = gc.tensor("c", (3, 4), dtype="float64"), gc.tensor("b", (3, 5), dtype="float64")
    raw, out, fired = run(gc.matmul(c.T, b).T)  # (cᵀb)ᵀ = bᵀc: two transposes -> one
    assert fired["transpose_of_matmul"] == 1
    assert ops(raw).count("transpose") == 2 and ops(out).count("transpose") == 1
    assert out.outputs[0].op == "matmul" and out.outputs[0].inputs[1] is c
    same_values(raw, out, {"c": RNG.normal(size=(3, 4)), "b": RNG.normal(size=(3, 5))})


def test_transpose_of_matmul_is_left_when_it_would_not_help_or_would_repeat_work():
    a, b = gc.tensor("a", (4, 3)), gc.tensor("b", (3, 5))
    _, out, fired = run((a @ b).T)  # no operand is a transpose: nothing cancels
    assert "transpose_of_matmul" not in fired
    c = gc.tensor("c", (3, 4))
    product = c.T @ b
    _, out, fired = run([product.T, gc.tanh(product)])  # the product is needed as it is
    assert "transpose_of_matmul" not in fired and ops(out).count("matmul") == 1


def test_layout_chains_over_a_constant_collapse_to_one_broadcast():
    seed = gc.broadcast_to(gc.constant(2.0).reshape(1, 1), ("B", 3)).reshape(-1)
    x = gc.tensor("x", ("B", 3))
    raw, out, fired = run(x.reshape(-1) * seed)
    assert out.outputs[0].op == "elementwise" and len(out.outputs[0].inputs) == 1
    assert out.outputs[0].attrs["body"].lines()[0] == "t1 = x0 * 2.0"
    same_values(raw, out, {"x": RNG.normal(size=(2, 3)).astype(np.float32)}, {dim("B"): 2})


def test_inputs_are_kept_and_a_second_run_changes_nothing():
    x, y = gc.tensor("x", (3,)), gc.tensor("y", (3,))
    graph = gc.Graph.of([gc.neg(gc.neg(x)) * gc.constant(1.0)], inputs=[x, y])
    once = simplify(graph)
    assert once.inputs == (x, y) and once.outputs[0] is x
    _, report = optimize(once, [simplify])
    assert report[0].changes == {} and simplify(once).outputs == once.outputs


def test_first_derivative_seed_becomes_a_literal():
    x = gc.tensor("x", ("B", 5))
    g = gc.grad(gc.sum(gc.tanh(x)), x)
    raw, out, fired = run(g)
    # d/dx sum(tanh x) = g * (1 - tanh(x)**2) with the seed g = 1 a literal: the constant,
    # its reshape and broadcast are gone
    assert ops(out) == ["input", "elementwise", "elementwise"]
    same_values(raw, out, {"x": RNG.normal(size=(3, 5)).astype(np.float32)}, {dim("B"): 3})


def test_second_derivative_of_sum_tanh_shrinks():
    x = gc.tensor("x", (5,))
    h = gc.grad(gc.sum(gc.grad(gc.sum(gc.tanh(x)), x)), x)
    raw, out, fired = run(h, [simplify, eliminate_common_subexpressions])
    assert len(out) < len(raw) and "constant" not in ops(out)
    xs = np.linspace(-2, 2, 5)
    t = np.tanh(xs)
    np.testing.assert_allclose(evaluate(out.outputs, {"x": xs.astype(np.float32)}, {})[0],
                               -2 * t * (1 - t ** 2), rtol=1e-5, atol=1e-6)
    same_values(raw, out, {"x": xs.astype(np.float32)})


def test_hessian_vector_product_of_a_small_mlp_shrinks():
    x, t = gc.tensor("x", (8, 4)), gc.tensor("t", (8, 3))
    w1, b1, w2 = gc.tensor("w1", (4, 5)), gc.tensor("b1", (5,)), gc.tensor("w2", (5, 3))
    v = gc.tensor("v", (4, 5))
    loss = gc.mse_loss(gc.tanh(x @ w1 + b1) @ w2, t)
    hvp = gc.grad(gc.sum(gc.grad(loss, w1) * v), w1)
    raw, out, fired = run(hvp, [simplify, eliminate_common_subexpressions])
    # both seeds (constant, reshape, broadcast) become literals of the statements reading
    # them; (xᵀ)ᵀ and (w2ᵀ)ᵀ cancel; CSE merges what was built twice
    assert (len(raw), len(out)) == (36, 28)
    assert fired["transpose_transpose"] == 2 and "constant" not in ops(out)
    feeds = {k: RNG.normal(size=s).astype(np.float32) for k, s in
             {"x": (8, 4), "t": (8, 3), "w1": (4, 5), "b1": (5,), "w2": (5, 3),
              "v": (4, 5)}.items()}
    same_values(raw, out, feeds)


def test_a_one_operand_body_over_a_broadcast_runs_on_the_small_tensor():
    s = gc.tensor("s", (1,), dtype="float64")
    wide = gc.broadcast_to(s, ("B", 4))
    raw, out, fired = run(gc.tanh(-wide))
    res = out.outputs[0]
    assert res.op == "broadcast_to" and res.inputs[0].shape == (1,)
    assert fired["elementwise_of_broadcast"] == 2
    same_values(raw, out, {"s": np.array([0.7])}, {dim("B"): 3})
    # a broadcast other nodes read too stays where it is: moving f would add a node
    raw, out, fired = run([gc.tanh(wide), wide * 2.0 + wide])
    assert "elementwise_of_broadcast" not in fired and len(out) <= len(raw)


def test_slice_chains_collapse_exactly():
    x = gc.tensor("x", ("B", 12))
    y = x[:, 2:][:, ::3][:, 1:]          # x[:, 5::3]
    z = gc.functional.pad2d(x, (0, 3))[:, 3:-3]  # the box the pad wrote x into: x itself
    w = x[:, :][:, ::1]                  # whole slices: x
    g, report = optimize(gc.Graph.of([y, z, w]), ["simplify"])
    s = g.outputs[0]
    assert s.op == "slice" and s.inputs[0] is x and s.attrs["step"] == (1, 3)
    assert [int(b) for b in s.attrs["begin"]] == [0, 5]
    assert g.outputs[1] is x and g.outputs[2] is x
    assert report[0].changes["slice_slice"] == 2 and report[0].changes["slice_of_pad"] == 1
    X = np.arange(24, dtype=np.float32).reshape(2, 12)
    np.testing.assert_array_equal(gc.compile(y)(x=X), X[:, 5::3])
