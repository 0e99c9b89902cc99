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


def same_values(raw, out, feeds, dims=None, rtol=1e-6):
    before = evaluate(raw.outputs, feeds, dims or {})
    after = evaluate(out.outputs, feeds, dims or {})
    for b, a in zip(before, after):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


def ops(graph):
    return [n.op for n in graph.nodes()]


def test_rules_are_a_table_with_unique_names_and_identities():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(r.identity and callable(r.apply) for r in RULES)


@pytest.mark.parametrize("make,rule", [
    (lambda x: x * gc.constant(1.0), "identity_body"),           # x*1 = x
    (lambda x: gc.constant(0.0) + x, "identity_body"),           # 0+x = x
    (lambda x: x - gc.constant(0.0), "identity_body"),           # x-0 = x
    (lambda x: x / gc.constant(1.0), "identity_body"),           # x/1 = x
    (lambda x: gc.neg(gc.neg(x)), "neg_neg"),                    # --x = x
    (lambda x: gc.log(gc.exp(x)), "log_exp"),                    # log(exp(x)) = x
    (lambda x: x.T.T, "transpose_transpose"),                    # (xᵀ)ᵀ = x
    (lambda x: x.reshape(6, "B").reshape("B", 6), "reshape_reshape"),
    (lambda x: x * 1.0, "exact_literal"),                        # 1.0*x = x
])
def test_identities_give_back_x(make, rule):
    x = gc.tensor("x", ("B", 6), dtype="float64")
    raw, out, fired = run(make(x))
    assert out.outputs[0] is x
    assert fired.get(rule, 0) >= 1
    same_values(raw, out, {"x": RNG.normal(size=(4, 6))}, {dim("B"): 4})


def test_multiplying_by_a_broadcast_one_keeps_the_broadcast_shape():
    x = gc.tensor("x", (6,))
    ones = gc.broadcast_to(gc.constant(1.0), ("B", 6))
    raw, out, fired = run(x * ones)
    assert ops(out) == ["input", "broadcast_to"] and out.outputs[0].inputs[0] is x
    assert out.outputs[0].shape == (dim("B"), 6)
    same_values(raw, out, {"x": RNG.normal(size=6).astype(np.float32)}, {dim("B"): 3})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_times_zero_is_zeros_of_the_result_shape_and_dtype(dtype):
    x = gc.tensor("x", ("B", 3), dtype=dtype)
    raw, out, fired = run(gc.tanh(x) * gc.constant(0.0, dtype=dtype))
    zero = out.outputs[0]
    assert zero.op == "broadcast_to" and zero.shape == (dim("B"), 3) and zero.dtype == dtype
    assert zero.inputs[0].op == "constant" and zero.inputs[0].attrs["value"].array == 0
    assert fired["constant_body"] == 1 and out.inputs == raw.inputs
    same_values(raw, out, {"x": RNG.normal(size=(2, 3)).astype(dtype)}, {dim("B"): 2})


def test_zeros_propagate_through_a_matmul():
    x, w = gc.tensor("x", ("B", 4)), gc.tensor("w", (4, 5))
    zeros = gc.broadcast_to(gc.constant(0.0), (4, 5))
    raw, out, fired = run(gc.tanh(x @ (w * zeros)))
    assert "matmul" not in ops(out) and fired["zero_contraction"] == 1
    same_values(raw, out, {"x": RNG.normal(size=(3, 4)).astype(np.float32),
                           "w": RNG.normal(size=(4, 5)).astype(np.float32)}, {dim("B"): 3})


def test_exp_of_log_only_where_x_is_known_nonnegative():
    x = gc.tensor("x", (5,), dtype="float64")
    raw, out, _ = run(gc.exp(gc.log(x)))  # x may be negative: exp(log(-1)) is nan
    assert len(out) == 3
    same_values(raw, out, {"x": np.array([-1.0, 0.0, 0.5, 2.0, 3.0])})
    for nonneg in (gc.relu(x), x * x, gc.exp(x) + 1.0):
        raw, out, fired = run(gc.exp(gc.log(nonneg)))
        assert fired["exp_log"] == 1 and len(out) == len(simplify(gc.Graph.of([nonneg])))
        same_values(raw, out, {"x": np.array([-1.0, 0.0, 0.5, 2.0, 3.0])})


def test_log_of_softmax_becomes_log_softmax():
    x = gc.tensor("x", ("B", 4), dtype="float64")
    manual = gc.exp(x) / gc.sum(gc.exp(x), axis=1, keepdims=True)
    raw, out, fired = run([gc.log(gc.softmax(x)), gc.log(manual)])
    assert fired["log_exp"] == 1 and fired["log_softmax"] == 1
    for o in out.outputs:  # both are x - logsumexp(x)
        assert o.inputs[0] is x and o.inputs[1].op == "logsumexp"
    big = np.array([[1000.0, 0.0, -1000.0, 10.0]])
    with np.errstate(all="ignore"):
        unstable = evaluate(raw.outputs, {"x": big}, {dim("B"): 1})[1]
    stable = evaluate(out.outputs, {"x": big}, {dim("B"): 1})
    assert not np.isfinite(unstable).all()
    expected = big - (1000.0 + np.log1p(np.exp(-990.0)))
    for s in stable:
        np.testing.assert_allclose(s, expected)


def test_sum_over_broadcast_axes_is_a_multiple_of_the_smaller_tensor():
    b = gc.tensor("b", (4,), dtype="float64")
    d = gc.tensor("d", (3, 1), dtype="float64")
    outs = [gc.sum(gc.broadcast_to(b, ("B", 4)), axis=0),          # B * b
            gc.sum(gc.broadcast_to(d, (3, 4)), axis=(0, 1)),       # 4 * sum(d)
            gc.sum(gc.broadcast_to(d, ("B", 3, 4)), axis=(0, 2), keepdims=True),
            gc.max(gc.broadcast_to(b, (2, 4)), axis=0),            # b
            gc.logsumexp(gc.broadcast_to(b, (3, 4)), axis=0)]      # b + log 3
    raw, out, fired = run(outs)
    assert fired["sum_of_broadcast"] == 5
    assert out.outputs[0].op == "elementwise" and out.outputs[0].inputs[0] is b
    assert out.outputs[3] is b
    assert all(n.op != "broadcast_to" or n.ndim < 3 for n in out.nodes())
    same_values(raw, out, {"b": RNG.normal(size=4), "d": RNG.normal(size=(3, 1))},
                {dim("B"): 5})


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
    assert "reshape" not in [n.op for n in out.nodes() if n.inputs and
                             n.inputs[0].op == "constant"]
    assert out.outputs[0].op == "elementwise" and len(out.outputs[0].inputs) == 1
    same_values(raw, out, {"x": RNG.normal(size=(2, 3)).astype(np.float32)}, {dim("B"): 2})


def test_inputs_are_kept_and_a_second_run_changes_nothing():
    x, y = gc.tensor("x", (3,)), gc.tensor("y", (3,))
    graph = gc.Graph.of([gc.neg(gc.neg(x)) * gc.constant(1.0)], inputs=[x, y])
    once = simplify(graph)
    assert once.inputs == (x, y) and once.outputs[0] is x
    _, report = optimize(once, [simplify])
    assert report[0].changes == {} and simplify(once).outputs == once.outputs


def test_first_derivative_seed_is_gone():
    x = gc.tensor("x", ("B", 5))
    g = gc.grad(gc.sum(gc.tanh(x)), x)
    raw, out, fired = run(g)
    # d/dx sum(tanh x) = 1 - tanh(x)**2: the seed 1, its reshape and broadcast are gone
    assert ops(out) == ["input", "elementwise", "elementwise"]
    same_values(raw, out, {"x": RNG.normal(size=(3, 5)).astype(np.float32)}, {dim("B"): 3})


def test_second_derivative_of_sum_tanh_shrinks():
    # d²/dx² sum(tanh(x)) raw: the seed 1 twice (constant, reshape, broadcast each), tanh,
    # and the two derivative bodies. After: tanh, -2*out, g*(1 - out**2) over x.
    x = gc.tensor("x", (5,))
    h = gc.grad(gc.sum(gc.grad(gc.sum(gc.tanh(x)), x)), x)
    raw, out, fired = run(h, [simplify, eliminate_common_subexpressions])
    assert (len(raw), len(out)) == (10, 4)
    assert "constant" not in ops(out)
    xs = np.linspace(-2, 2, 5)
    t = np.tanh(xs)
    np.testing.assert_allclose(evaluate(out.outputs, {"x": xs.astype(np.float32)}, {})[0],
                               -2 * t * (1 - t ** 2), rtol=1e-5, atol=1e-6)


def test_hessian_vector_product_of_a_small_mlp_shrinks():
    x, t = gc.tensor("x", (8, 4)), gc.tensor("t", (8, 3))
    w1, b1, w2 = gc.tensor("w1", (4, 5)), gc.tensor("b1", (5,)), gc.tensor("w2", (5, 3))
    v = gc.tensor("v", (4, 5))
    loss = gc.mse_loss(gc.tanh(x @ w1 + b1) @ w2, t)
    hvp = gc.grad(gc.sum(gc.grad(loss, w1) * v), w1)
    raw, out, fired = run(hvp, [simplify, eliminate_common_subexpressions])
    # both seeds (constant, reshape, broadcast) become literals of the bodies reading them;
    # (xᵀ)ᵀ and (w2ᵀ)ᵀ cancel; CSE merges dmul/dx with dmul/dy of d*d (and their second
    # derivatives, and the two w2ᵀ), after which d + d reads d once
    assert (len(raw), len(out)) == (40, 26)
    assert fired["transpose_transpose"] == 2 and "constant" not in ops(out)
    feeds = {k: RNG.normal(size=s).astype(np.float32) for k, s in
             {"x": (8, 4), "t": (8, 3), "w1": (4, 5), "b1": (5,), "w2": (5, 3),
              "v": (4, 5)}.items()}
    same_values(raw, out, feeds, rtol=1e-4)


def test_a_constant_that_sets_the_precision_stays_an_operand():
    x = gc.tensor("x", (3,), dtype="float32")
    third = gc.constant(1 / 3, dtype="float64")
    raw, out, fired = run([x * third, x * gc.constant(1.0, dtype="float64")])
    assert out.outputs[0].inputs[1].op == "constant"  # x * (1/3) computes in float64
    cast = out.outputs[1]  # x * 1.0 is exactly float64(x): a cast
    assert cast.inputs == (x,) and cast.dtype == "float64"
    same_values(raw, out, {"x": np.array([1e-3, 1.0, 7.0], np.float32)}, rtol=0)


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


def test_a_zero_divisor_stays_an_operand():
    # inlining c = 0 into x / c would give sympy's zoo*x: no float value (x/0 is +inf, -inf
    # or nan by the sign of x) and no printable code, so the rewrite must not happen
    x = gc.tensor("x", (4,), dtype="float64")
    raw, out, fired = run([x / gc.constant(0.0, "float64"),
                           gc.tanh(x) / gc.broadcast_to(gc.constant(0.0, "float64"), (4,))])
    assert all(o.op == "elementwise" and len(o.inputs) == 2 for o in out.outputs)
    feeds = {"x": np.array([-1.0, 0.0, 2.0, np.inf])}
    with np.errstate(all="ignore"):
        for b, a in zip(evaluate(raw.outputs, feeds, {}), evaluate(out.outputs, feeds, {})):
            np.testing.assert_array_equal(a, b)  # -inf, nan, inf, inf: nan where 0/0
