"""Backend "cpu" runs argmax, random_uniform and gathers of indices the graph computes as
native kernels (graphc/backend/numba/index_kernels.py, graphc/lower/gathers.py):

- argmax equals np.argmax and the reference on NaN (the first wins), +-Inf, ties and +-0 (the
  first), integers at their minimum and bools, along every axis; an empty axis is the
  reference's own error;
- random_uniform (dropout's mask) draws the reference's bits for any seed, seed dtype,
  stream and shape;
- computed indices run unchecked where in range by construction (argmax's, into as many
  rows), checked by the kernel otherwise: an index out of range is the reference's IndexError;
- a training step with dropout and an in-graph accuracy (argmax) is one native call.

Compiled functions are shared across tests (module-scope fixtures)."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.node import make
from graphc.ir.shapes import as_shape
from graphc.lower.program import GatherKernel
from index_cases import SPECIAL, assert_same_error

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(23)
nan = np.nan


def _both(outputs):
    return gc.compile(outputs, backend="cpu"), gc.compile(outputs, backend="reference")


# ---- argmax ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def argmaxes():
    """Per dtype, compiled once: argmax along each axis of a matrix and of a rank-3 tensor."""
    made = {}

    def get(dtype):
        if dtype not in made:
            x, y = gc.tensor("x", ("B", "T"), dtype), gc.tensor("y", ("B", 3, "T"), dtype)
            made[dtype] = _both([gc.argmax(x, 0), gc.argmax(x, 1), gc.argmax(y, 0),
                                 gc.argmax(y, 1), gc.argmax(y, 2)])
        return made[dtype]
    return get


def _check_argmax(argmaxes, dtype, x):
    y = np.stack([x, x[::-1], np.roll(x, 1, axis=1)], axis=1)
    cpu, ref = argmaxes(dtype)
    got, want = cpu(x=x, y=y), ref(x=x, y=y)
    numpy = [np.argmax(x, 0), np.argmax(x, 1), np.argmax(y, 0), np.argmax(y, 1),
             np.argmax(y, 2)]
    for g, w, n in zip(got, want, numpy):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, n)
        np.testing.assert_array_equal(g, w)
    assert all(k.runs == "generated" for k in cpu.impl.kernels)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_argmax_of_special_values_is_numpys(argmaxes, dtype):
    _check_argmax(argmaxes, dtype, SPECIAL.astype(dtype))
    _check_argmax(argmaxes, dtype, SPECIAL.T.copy().astype(dtype))
    ties = RNG.integers(-2, 3, (9, 37)).astype(dtype)  # long rows of ties
    ties[3, 20:] = nan
    _check_argmax(argmaxes, dtype, ties)


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8", "bool"])
def test_argmax_of_integers_and_bools_is_numpys(argmaxes, dtype):
    if dtype == "bool":
        x = RNG.integers(0, 2, (6, 5)).astype(bool)
        x[0], x[1] = False, True
    else:
        info = np.iinfo(dtype)
        x = RNG.integers(info.min, int(info.min) + 3, (6, 5)).astype(dtype)
        x[0] = info.min  # every entry the type's minimum: the first
        x[1, 2:] = info.max
    _check_argmax(argmaxes, dtype, x)


def test_argmax_over_an_empty_axis_is_the_references_error():
    x = gc.tensor("x", ("B", "T"))
    cpu, ref = _both([gc.argmax(x, 1)])
    assert_same_error(cpu, ref, {"x": np.zeros((3, 0), np.float32)}, ValueError)
    assert_same_error(cpu, ref, {"x": np.zeros((0, 0), np.float32)}, ValueError)
    (empty,) = cpu(x=np.zeros((0, 4), np.float32))  # no rows: nothing to reduce, no error
    assert empty.shape == (0,) and empty.dtype == np.int64
    np.testing.assert_array_equal(cpu(x=SPECIAL.astype(np.float32))[0], np.argmax(SPECIAL, 1))


# ---- random_uniform --------------------------------------------------------------------------
@pytest.mark.parametrize("seed_dtype, seeds", [
    ("int64", [0, 1, -1, -2 ** 63, 2 ** 63 - 1, 987654321]),
    ("int32", [-7, 2 ** 31 - 1]),
    ("uint64", [2 ** 64 - 1, 2 ** 63, 5])])
def test_random_uniform_draws_the_references_bits(seed_dtype, seeds):
    seed, x = gc.tensor("seed", (), seed_dtype), gc.tensor("x", ("B", 7))
    shapes = [as_shape(()), as_shape((0,)), x.shape, as_shape((2, 3, 5)), as_shape((1, 4))]
    outs = [make("random_uniform", (seed,), shape=shape, stream=stream)
            for shape in shapes for stream in (0, 1, 2 ** 63 - 1)]
    cpu, ref = _both([gc.sum(x), *outs])  # x binds B
    assert all(k.runs == "generated" for k in cpu.impl.kernels)
    for s in seeds:
        for b in (4, 0):
            feeds = {"seed": np.array(s, seed_dtype), "x": np.zeros((b, 7), np.float32)}
            for g, w in zip(cpu(**feeds)[1:], ref(**feeds)[1:]):
                assert g.dtype == np.float32 and g.shape == w.shape
                np.testing.assert_array_equal(g.view(np.uint32), w.view(np.uint32))


def test_dropout_masks_and_their_gradient_are_the_references_bits():
    x, seed = gc.tensor("x", ("B", 33)), gc.tensor("seed", (), "int64")
    y = gc.dropout(x, 0.25, seed) + gc.dropout(x * 2.0, 0.5, seed, stream=3)
    outs = [y, *gc.grad(gc.sum(y * y), [x])]
    cpu, ref = _both(outs)
    feeds = {"x": RNG.standard_normal((7, 33)).astype(np.float32)}
    for s in (0, 1, -2 ** 63, 2 ** 63 - 1):
        for w, g in zip(ref(**feeds, seed=np.int64(s)), cpu(**feeds, seed=np.int64(s))):
            np.testing.assert_array_equal(g, w)


# ---- gathers of computed indices ---------------------------------------------------------------
@pytest.fixture(scope="module")
def computed():
    s, table = gc.tensor("s", ("B", "T")), gc.tensor("table", ("T", 3))
    small, x = gc.tensor("small", (3, 2)), gc.tensor("x", ("B", 4))
    a = gc.argmax(s, 1)
    rows = gc.where(a > 1, a, -3)             # -3 (the first row) or a: maybe out of range
    cols = gc.reshape(gc.minimum(a, 3), (-1, 1))
    picked, chosen = gc.take(small, rows), gc.take_along_axis(x, cols, axis=1)
    loss = gc.sum(picked * picked) + gc.sum(chosen * chosen)
    outs = [gc.take(table, a), picked, chosen, loss, *gc.grad(loss, [small, x])]
    return _both(outs)


def _feeds(winners):
    """Scores whose argmax along each row is `winners`."""
    b, t = len(winners), 6
    s = RNG.standard_normal((b, t)).astype(np.float32)
    s[np.arange(b), winners] = 10.0
    return {"s": s, "table": RNG.standard_normal((t, 3)).astype(np.float32),
            "small": RNG.standard_normal((3, 2)).astype(np.float32),
            "x": RNG.standard_normal((b, 4)).astype(np.float32)}


def test_computed_indices_are_checked_only_where_not_known_in_range(computed):
    cpu, _ = computed
    gathers = [(k.provenance[0], k.in_range) for k in cpu.impl.program.kernels
               if isinstance(k, GatherKernel)]
    # take(table, argmax): T positions into T rows; the rest are computed by where / minimum
    assert gathers[0] == ("take", True)
    assert sorted(gathers[1:]) == [("scatter_add", False), ("scatter_add_along_axis", False),
                                   ("take", False), ("take_along_axis", False)]
    assert all(k.runs == "generated" for k in cpu.impl.kernels)
    assert "checks each index as it reads it" in gc.explain(cpu)


def test_computed_indices_in_range_equal_the_reference(computed):
    cpu, ref = computed
    for winners in ([0, 2, 1, 2, 0], [2], []):  # negative (-3) and positive computed indices
        feeds = _feeds(winners)
        for w, g in zip(ref(**feeds), cpu(**feeds)):
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


def test_a_computed_index_out_of_range_is_the_references_index_error(computed):
    cpu, ref = computed
    assert_same_error(cpu, ref, _feeds([0, 5, 1]), IndexError)  # where(...) gives 5: 3 rows
    good = _feeds([1, 2])
    for w, g in zip(ref(**good), cpu(**good)):  # and the function still works afterwards
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


# ---- one native call ---------------------------------------------------------------------------
def test_a_step_with_dropout_and_an_accuracy_is_one_native_call():
    x, y, seed = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), "int64"), \
        gc.tensor("seed", (), "int64")
    w1, b1 = gc.tensor("W1", (6, 8)), gc.tensor("b1", (8,))
    w2, b2 = gc.tensor("W2", (8, 3)), gc.tensor("b2", (3,))
    logits = gc.dropout(gc.relu(x @ w1 + b1), 0.2, seed) @ w2 + b2
    loss = gc.cross_entropy(logits, y)
    accuracy = gc.mean(gc.astype(gc.argmax(logits, 1) == y, "float32"))
    params = [w1, b1, w2, b2]
    updated = [p - 0.1 * g for p, g in zip(params, gc.grad(loss, params))]
    cpu, ref = _both([loss, accuracy, *updated])
    assert len(cpu.impl.module_source.segments) == 1 and "def run1(" not in cpu.impl.source
    assert all(k.runs != "NumPy reference" for k in cpu.impl.kernels)
    assert "one native call per step" in gc.explain(cpu)
    feeds = {"x": RNG.standard_normal((9, 6)).astype(np.float32), "y": RNG.integers(0, 3, 9),
             "W1": RNG.standard_normal((6, 8)).astype(np.float32),
             "b1": np.zeros(8, np.float32), "W2": RNG.standard_normal((8, 3)).astype(np.float32),
             "b2": np.zeros(3, np.float32), "seed": np.int64(42)}
    for w, g in zip(ref(**feeds), cpu(**feeds)):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
