"""gc.check_grad: passes on right gradients, names the input and element on a wrong one,
computes in float64 whatever the graph's dtype. Mirrors graphc/grad/check.py."""
import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.ir.scalar import OUT, ScalarFn

RNG = np.random.default_rng(6)


def test_returns_small_errors_per_input():
    x, w = gc.tensor("x", (3, 4)), gc.tensor("w", (4, 2))
    errs = gc.check_grad(gc.sum(gc.tanh(x @ w)), [x, w],
                         {"x": RNG.standard_normal((3, 4)), "w": RNG.standard_normal((4, 2))})
    assert set(errs) == {"x", "w"}
    # float32 graph, float64 check: errors at the level of float64 finite differences
    assert all(0 <= e < 1e-8 for e in errs.values())


def test_a_wrong_gradient_is_caught_and_named():
    # x² with a deliberately wrong derivative (out instead of 2x), said through the output
    bad = ScalarFn("bad_square", (sympy.Symbol("x"),), sympy.Symbol("x") ** 2,
                   grad_via_output=OUT)
    x = gc.tensor("weights", (5,), "float64")
    y = gc.sum(gc.apply(bad, x))
    with pytest.raises(AssertionError, match=r"'weights' at element \(\d+,\)"):
        gc.check_grad(y, [x], {"weights": RNG.uniform(0.5, 2.0, 5)})


def test_large_inputs_are_sampled_and_a_random_direction_covers_the_rest():
    x = gc.tensor("x", (40, 30), "float64")
    a = RNG.uniform(0.5, 2.0, (40, 30))
    errs = gc.check_grad(gc.sum(gc.tanh(x) * x), [x], {"x": a}, max_points=5)
    assert errs["x"] < 1e-6
    # wrong at one element only (one that 3 sampled points almost surely miss)
    bad = ScalarFn("bad_square", (sympy.Symbol("x"),), sympy.Symbol("x") ** 2,
                   grad_via_output=OUT)
    mask = np.zeros((40, 30))
    mask[17, 11] = 1.0
    y = gc.sum(gc.apply(bad, x * gc.constant(mask, dtype="float64")))
    with pytest.raises(AssertionError, match="'x' at"):
        gc.check_grad(y, [x], {"x": a}, max_points=3, seed=1)


def test_non_input_targets_are_rejected():
    x = gc.tensor("x", (3,))
    h = gc.tanh(x)
    with pytest.raises(TypeError, match="input tensors"):
        gc.check_grad(gc.sum(h), [h], {"x": np.ones(3)})


def test_inputs_that_are_not_differentiated_may_be_integers():
    logits, labels = gc.tensor("logits", (4, 3)), gc.tensor("labels", (4,), "int64")
    errs = gc.check_grad(gc.cross_entropy(logits, labels), [logits],
                         {"logits": RNG.standard_normal((4, 3)), "labels": np.array([0, 2, 1, 2])})
    assert errs["logits"] < 1e-8


def test_integer_values_for_a_float_input_are_perturbed_as_floats():
    # np.arange(3) for a float input: a step of 1e-6 added to an int64 copy would vanish
    x = gc.tensor("x", (3,), "float64")
    errs = gc.check_grad(gc.sum(x * x), [x], {"x": np.arange(3)})
    assert errs["x"] < 1e-6
