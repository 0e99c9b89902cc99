import numpy as np

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.shapes import dim
from graphc.passes.cse import cse_key, eliminate_common_subexpressions as cse
from graphc.passes.pipeline import optimize

RNG = np.random.default_rng(1)


def same_values(raw, out, feeds, dims=None):
    for b, a in zip(evaluate(raw.outputs, feeds, dims or {}),
                    evaluate(out.outputs, feeds, dims or {})):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_equal_trees_of_any_depth_merge():
    x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3, 4))

    def branch():
        return gc.sum(gc.tanh(x @ w + 1.0), axis=1)
    raw = gc.Graph.of([branch() * branch(), branch()])
    out, report = optimize(raw, [cse])
    assert len(raw) == 15 and len(out) == 7  # x, w, 3 copies of 4 nodes, the product
    assert out.outputs[1] is out.outputs[0].inputs[0]
    assert report[0].changes["merged"] == 8  # 4 nodes per extra copy, 2 extra copies
    same_values(raw, out, {"x": RNG.normal(size=(2, 3)).astype(np.float32),
                           "w": RNG.normal(size=(3, 4)).astype(np.float32)}, {dim("B"): 2})


def test_operand_order_of_a_commutative_body_does_not_matter():
    a, b = gc.tensor("a", (3,)), gc.tensor("b", (3,))
    raw = gc.Graph.of([a + b, b + a, a * b, b * a, a - b, b - a])
    out = cse(raw)
    first, second, p, q, d1, d2 = out.outputs
    assert first is second and p is q
    assert d1 is not d2  # a - b and b - a differ
    assert cse_key(raw.outputs[0]) == cse_key(raw.outputs[1])
    same_values(raw, out, {"a": RNG.normal(size=3).astype(np.float32),
                           "b": RNG.normal(size=3).astype(np.float32)})


def test_different_attributes_dtypes_or_inputs_do_not_merge():
    x = gc.tensor("x", (3, 4))
    other = gc.tensor("x2", (3, 4))
    outs = [x.sum(0), x.sum(1), x.sum(0, keepdims=True), gc.astype(x, "float64"),
            gc.astype(x, "float16"), gc.exp(x), gc.exp(other)]
    out = cse(gc.Graph.of(outs))
    assert len({id(o) for o in out.outputs}) == len(outs)


def test_inputs_never_merge_and_equal_constants_do():
    # two input nodes alike in all but identity are two arguments of the function
    p, q = gc.tensor("p", (2,)), gc.tensor("p", (2,))
    out = cse(gc.Graph.of([p + gc.constant([1.0, 2.0]), q + gc.constant([1.0, 2.0])],
                          inputs=[p, q]))
    left, right = out.outputs
    assert left is not right and out.inputs == (p, q)
    assert left.inputs[1] is right.inputs[1]  # the equal constants became one


def test_an_operand_read_twice_after_merging_is_read_once():
    x = gc.tensor("x", (4,))
    raw = gc.Graph.of([gc.exp(x) + gc.exp(x)])
    out, report = optimize(raw, [cse])
    total = out.outputs[0]
    assert len(total.inputs) == 1 and total.inputs[0].attrs["body"].name == "exp"
    assert total.attrs["body"].lines()[0] == "t1 = x0 + x0"  # renumbered, not 2*x
    assert report[0].changes == {"merged": 1, "operands merged": 1}
    same_values(raw, out, {"x": RNG.normal(size=4).astype(np.float32)})


def test_cse_is_idempotent():
    x = gc.tensor("x", (3,))
    raw = gc.Graph.of([gc.tanh(x) * gc.tanh(x) + gc.tanh(x)])
    once = cse(raw)
    twice, report = optimize(once, [cse])
    assert len(twice) == len(once) == 4 and report[0].changes == {}
