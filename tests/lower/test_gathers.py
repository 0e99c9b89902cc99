"""Lowering of gathers and the index ops: which indices are known in range before any kernel
runs (an input's, checked at call time; a constant's; argmax's and arange's positions into an
axis no shorter, for every size a dim can take, 0 included), and which a kernel must check;
argmax as an ArgmaxKernel and random_uniform as a RandomKernel, never a reference.
Mirrors graphc/lower/gathers.py and the argmax rule of graphc/lower/rules.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.lower import lower
from graphc.lower.program import (ArgmaxKernel, GatherKernel, RandomKernel, ReferenceKernel,
                                  ReduceKernel)
from graphc.passes.pipeline import optimize


def program(outputs):
    return lower(optimize(gc.Graph.of(outputs))[0])


def in_range(table, idx):
    (k,) = [k for k in program([gc.take(table, idx)]).kernels if isinstance(k, GatherKernel)]
    return k.in_range


@pytest.mark.parametrize("rows, scores, expected", [
    ((5, 2), (3, 5), True),        # 5 positions into 5 rows
    ((7, 2), (3, 5), True),        # into more rows
    ((4, 2), (3, 5), False),       # into fewer: the kernel checks
    (("T", 2), ("B", "T"), True),  # T positions into T rows, whatever T is
    (("B", 2), (3, 1), False),     # 1 position into B rows: B may be 0
])
def test_argmax_positions_are_in_range_where_the_axis_is_no_longer(rows, scores, expected):
    idx = gc.argmax(gc.tensor("s", scores), axis=1)
    assert in_range(gc.tensor("t", rows), idx) is expected


def test_inputs_constants_and_arange_are_known_in_range_and_other_indices_are_not():
    t = gc.tensor("t", ("T", 2))
    assert in_range(t, gc.tensor("ids", ("B",), "int64"))  # checked when the call binds it
    assert in_range(t, gc.reshape(gc.arange("T"), (-1, 1)))  # through a view
    assert in_range(gc.tensor("u", (4, 2)), gc.constant(np.array([0, 3, -4])))
    assert not in_range(gc.tensor("u", (4, 2)), gc.constant(np.array([0, 4])))
    a = gc.argmax(gc.tensor("s", ("B", "T")), axis=1)
    p = program([gc.take(t, gc.maximum(a, 1))])
    (k,) = [k for k in p.kernels if isinstance(k, GatherKernel)]
    assert not k.in_range and any("checks each index" in d for d in p.decisions)


def test_argmax_and_random_uniform_are_kernels_not_references():
    x, seed = gc.tensor("x", ("B", 4, 3)), gc.tensor("seed", (), "int64")
    p = program([gc.argmax(x, 1), gc.dropout(x, 0.5, seed, stream=2)])
    assert not any(isinstance(k, ReferenceKernel) for k in p.kernels)
    (arg,) = [k for k in p.kernels if isinstance(k, ArgmaxKernel)]
    assert isinstance(arg, ReduceKernel) and arg.axes == (1,) and arg.acc_dtype == "int64"
    assert arg.out.strides[1] == 0  # the reduced axis
    (rnd,) = [k for k in p.kernels if isinstance(k, RandomKernel)]
    assert rnd.stream == 2 and rnd.seed.strides == () and str(rnd.domain) == "(B, 4, 3)"
