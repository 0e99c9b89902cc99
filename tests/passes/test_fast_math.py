"""simplify_fast_math: value-changing algebra, only on request. Each rewrite fires, results
agree on finite inputs, explain reports them. Mirrors graphc/passes/fast_math.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.shapes import dim
from graphc.passes.fast_math import FAST_MATH_RULES, simplify_fast_math
from graphc.passes.pipeline import PIPELINE, optimize, resolve

RNG = np.random.default_rng(3)


def run(outputs):
    raw = gc.Graph.of(outputs if isinstance(outputs, list) else [outputs])
    out, report = optimize(raw, [simplify_fast_math])
    return raw, out, report[0].changes


def close_on_finite(raw, out, feeds, dims=None, rtol=1e-5):
    before = evaluate(raw.outputs, feeds, dims or {})
    after = evaluate(out.outputs, feeds, dims or {})
    for b, a in zip(before, after):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)


def test_it_is_in_the_pipeline_but_runs_only_when_asked():
    assert simplify_fast_math in PIPELINE
    assert simplify_fast_math not in resolve() and simplify_fast_math in resolve(fast_math=True)
    names = [r.name for r in FAST_MATH_RULES]
    assert len(names) == len(set(names)) and all(r.identity for r in FAST_MATH_RULES)


@pytest.mark.parametrize("make,kind", [
    (lambda x, y: x - x, "zero"), (lambda x, y: x / x, "one"), (lambda x, y: x * 0.0, "zero"),
    (lambda x, y: gc.exp(gc.log(x)), "x"), (lambda x, y: gc.log(gc.exp(x)), "x"),
    (lambda x, y: (x * y) / y, "x"), (lambda x, y: (x + y) - x, "y"), (lambda x, y: x + 0.0, "x"),
])
def test_the_issues_algebra_runs_with_fast_math(make, kind):
    x, y = gc.tensor("x", (6,), "float64"), gc.tensor("y", (6,), "float64")
    f = gc.compile(make(x, y), inputs=[x, y], fast_math=True)
    assert f.graph.outputs[0].op in ("input", "broadcast_to", "constant")
    a, b = RNG.uniform(0.5, 2.0, 6), RNG.uniform(0.5, 2.0, 6)
    want = {"zero": np.zeros(6), "one": np.ones(6), "x": a, "y": b}[kind]
    np.testing.assert_allclose(f(x=a, y=b), want, rtol=1e-12)


def test_times_zero_is_zeros_of_the_result_shape_and_dtype():
    x = gc.tensor("x", ("B", 3), dtype="float32")
    raw, out, fired = run(gc.tanh(x) * gc.constant(0.0))
    zero = out.outputs[0]
    assert zero.op == "broadcast_to" and zero.shape == (dim("B"), 3) and zero.dtype == "float32"
    assert fired["times_zero"] == 1
    close_on_finite(raw, out, {"x": RNG.normal(size=(2, 3)).astype(np.float32)}, {dim("B"): 2})


def test_zeros_propagate_through_a_matmul():
    x, w = gc.tensor("x", ("B", 4)), gc.tensor("w", (4, 5))
    zeros = gc.broadcast_to(gc.constant(0.0), (4, 5))
    raw, out, fired = run(gc.tanh(x @ (w * zeros)))
    assert "matmul" not in [n.op for n in out.nodes()] and fired["zero_contraction"] == 1
    close_on_finite(raw, out, {"x": RNG.normal(size=(3, 4)).astype(np.float32),
                               "w": RNG.normal(size=(4, 5)).astype(np.float32)}, {dim("B"): 3})


def test_log_of_softmax_becomes_log_softmax():
    x = gc.tensor("x", ("B", 4), dtype="float64")
    manual = gc.exp(x) / gc.sum(gc.exp(x), axis=1, keepdims=True)
    raw, out, fired = run([gc.log(manual)])
    assert fired["log_softmax"] == 1
    big = np.array([[1000.0, 0.0, -1000.0, 10.0]])
    with np.errstate(all="ignore"):
        unstable = evaluate(raw.outputs, {"x": big}, {dim("B"): 1})[0]
    assert not np.isfinite(unstable).all()  # the exact pipeline keeps what the user wrote


def test_float_sums_of_broadcasts_become_products():
    b = gc.tensor("b", (4,), dtype="float64")
    outs = [gc.sum(gc.broadcast_to(b, ("B", 4)), axis=0),
            gc.logsumexp(gc.broadcast_to(b, (3, 4)), axis=0)]
    raw, out, fired = run(outs)
    assert fired["sum_of_broadcast"] == 1 and fired["logsumexp_of_broadcast"] == 1
    close_on_finite(raw, out, {"b": RNG.normal(size=4)}, {dim("B"): 5}, rtol=1e-12)


def test_explain_names_the_fast_math_rewrites_that_fired():
    x = gc.tensor("x", (4,))
    text = gc.explain(x - x + gc.tanh(x), fast_math=True)
    assert "fast-math rewrites that fired" in text and "algebra x1" in text
    assert "fast-math: off" in gc.explain(x - x)


def test_fast_math_keeps_the_mlp_equal_on_finite_inputs():
    x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), "int64")
    W, b = gc.tensor("W", (6, 3)), gc.tensor("b", (3,))
    loss = gc.cross_entropy(gc.relu(x @ W + b) * 1.0 + 0.0, y)
    outs = [loss] + gc.grad(loss, [W, b])
    feeds = {"x": RNG.normal(size=(5, 6)).astype(np.float32), "y": RNG.integers(0, 3, 5),
             "W": RNG.normal(size=(6, 3)).astype(np.float32), "b": np.zeros(3, np.float32)}
    exact, fast = gc.compile(outs)(**feeds), gc.compile(outs, fast_math=True)(**feeds)
    for e, f in zip(exact, fast):
        np.testing.assert_allclose(f, e, rtol=1e-5, atol=1e-6)


def test_a_formula_that_repeats_terms_is_not_composed():
    # algebra composes formulas with sympy's evaluation, which walks a formula's tree: a
    # 10-level formula that repeats terms took 51 s to compile with fast_math. It is left whole,
    # a leaf to the algebra around it (y - y + y is y)
    from special_graphs import repeating_formula
    x = gc.tensor("x", (7,), dtype="float64")
    y = gc.elementwise(repeating_formula(24), "nest")(x)
    raw, out, fired = run(y - y + y)
    assert fired["algebra"] == 1
    close_on_finite(raw, out, {"x": np.array([-0.3, 0.1, 0.6, 1.3, 2.9, 5.2, 8.8])}, {},
                    rtol=1e-12)
