"""Backend "cuda" runs argmax, random_uniform and gathers of indices the graph computes as
device kernels (graphc/backend/cuda/index_kernels.py): argmax's block tree of (value,
position) pairs gives np.argmax on NaN, +-Inf, ties and +-0, for rows longer than a block and
shorter than one; an empty axis is the reference's error; dropout's mask has the reference's
and the cpu backend's bits; a computed index out of range sets the fault flag and the call
raises the reference's IndexError. Tiny shapes: the simulator runs each thread in Python."""
import numpy as np
import pytest

import graphc as gc
from cuda_check import assert_same
from index_cases import SPECIAL, assert_same_error

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(31)
nan = np.nan
SPECIAL = SPECIAL.astype(np.float32)


@pytest.fixture(scope="module")
def argmaxes():
    x = gc.tensor("x", ("B", "T"))
    i, m = gc.tensor("i", ("N", 5), "int8"), gc.tensor("m", ("N", 5), "bool")
    outs = [gc.argmax(x, 0), gc.argmax(x, 1), gc.argmax(i, 0), gc.argmax(i, 1),
            gc.argmax(m, 1)]
    return gc.compile(outs, backend="cuda"), gc.compile(outs)


def test_argmax_of_special_values_integers_and_bools_is_numpys(argmaxes):
    dev, ref = argmaxes
    assert all(k.runs == "generated (cuda)" for k in dev.kernels)
    i = RNG.integers(-128, -126, (4, 5)).astype(np.int8)
    i[0] = -128
    m = RNG.integers(0, 2, (4, 5)).astype(bool)
    m[1] = False
    long_rows = RNG.integers(-1, 2, (2, 70)).astype(np.float32)  # more than a block's threads
    long_rows[1, 40:] = nan
    for x in (SPECIAL, SPECIAL.T.copy(), long_rows):
        feeds = {"x": x, "i": i, "m": m}
        got = dev(**feeds)
        assert_same(ref(**feeds), got)
        np.testing.assert_array_equal(got[0], np.argmax(x, 0))
        np.testing.assert_array_equal(got[1], np.argmax(x, 1))
    assert_same_error(dev, ref, {"x": np.zeros((2, 0), np.float32), "i": i, "m": m}, ValueError)


def test_dropout_masks_are_the_references_and_the_cpus_bits():
    x, seed = gc.tensor("x", ("B", 5)), gc.tensor("seed", (), "int64")
    outs = [gc.dropout(x, 0.25, seed), gc.dropout(x * 2.0, 0.5, seed, stream=3)]
    ref, cpu, dev = (gc.compile(outs, backend=b) for b in ("reference", "cpu", "cuda"))
    assert all(k.runs == "generated (cuda)" for k in dev.kernels)
    feeds = {"x": RNG.standard_normal((3, 5)).astype(np.float32)}
    for s in (0, -2 ** 63, 2 ** 63 - 1):
        want = ref(**feeds, seed=np.int64(s))
        for got in (cpu(**feeds, seed=np.int64(s)), dev(**feeds, seed=np.int64(s))):
            for w, g in zip(want, got):
                np.testing.assert_array_equal(g.view(np.uint32), w.view(np.uint32))


def test_computed_indices_are_checked_on_the_device():
    s, small = gc.tensor("s", ("B", 6)), gc.tensor("small", (3, 2))
    a = gc.argmax(s, 1)
    picked = gc.take(small, gc.where(a > 1, a, -3))  # maybe out of range: the kernel checks
    outs = [picked, *gc.grad(gc.sum(picked * picked), [small]),
            gc.take(gc.tensor("table", (6, 2)), a)]  # in range by construction
    dev, ref = gc.compile(outs, backend="cuda"), gc.compile(outs)
    faults = [ck.fault for ck in dev.impl.module_source.kernels.values() if ck.fault]
    assert len(faults) == 2  # the take and its scatter-add, not the take of argmax

    def feeds(winners):
        scores = RNG.standard_normal((len(winners), 6)).astype(np.float32)
        scores[np.arange(len(winners)), winners] = 9.0
        return {"s": scores, "small": RNG.standard_normal((3, 2)).astype(np.float32),
                "table": RNG.standard_normal((6, 2)).astype(np.float32)}
    good = feeds([0, 2, 2, 1])
    assert_same(ref(**good), dev(**good))
    assert_same_error(dev, ref, feeds([2, 4]), IndexError)
    assert_same(ref(**good), dev(**good))  # the flag was cleared
