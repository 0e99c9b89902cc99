"""The memory plan: temporaries share storage only when their lifetimes do not overlap (checked
on the transformer's training step, the largest program of the suite), outputs and inputs
are never in it, and a reused slot saves memory. Mirrors graphc/lower/plan.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.lower import lower
from graphc.lower.plan import check
from graphc.passes.pipeline import optimize


def transformer_step_program():
    gc.nn.manual_seed(0)
    block = gc.nn.TransformerBlock(16, 2, mlp_ratio=2)
    x, t = gc.tensor("x", ("B", 8, 16)), gc.tensor("t", ("B", 8, 16))
    loss = gc.mse_loss(block(x), t)
    params = [p.node for p in block.parameters()]
    graph, _ = optimize(gc.Graph.of([loss] + gc.grad(loss, params)))
    return lower(graph)


def test_no_slot_is_reused_while_a_value_in_it_is_still_read():
    p = transformer_step_program()
    check(p)
    plan = p.plan
    assert len(plan.slots) < len(plan.slot_of)  # some storage is shared
    roles = {p.buffers[n].role for n in plan.slot_of}
    assert roles == {"temp"}  # never an input, a constant or an output


def test_the_check_finds_an_overlap():
    p = transformer_step_program()
    names = sorted(p.plan.live, key=lambda n: p.plan.live[n])
    a, b = names[0], names[1]
    p.plan.slot_of[b] = p.plan.slot_of[a]
    if p.plan.live[b][0] <= p.plan.live[a][1]:
        with pytest.raises(AssertionError, match="reuses slot"):
            check(p)


def test_a_reused_slot_gives_the_same_results_as_fresh_buffers():
    x = gc.tensor("x", ("B", 6))
    h = x
    for _ in range(6):  # a chain of equal-sized temporaries: two slots take turns
        h = gc.tanh(h @ gc.constant(np.eye(6, dtype=np.float32) * 0.9))
    f = gc.compile(h, backend="cpu")
    assert len(f.impl.program.plan.slots) < len(f.impl.program.plan.slot_of)
    v = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(f(x=v), gc.compile(h)(x=v), rtol=1e-5)


def test_slot_sizes_round_up_to_the_alignment_as_sympy_would():
    """plan._aligned skips sympy's evaluated ceiling (milliseconds a call): the same
    expression as sympy's, and the same size for every dim value."""
    import sympy
    from graphc.lower.plan import ALIGN, _aligned
    B, T = (sympy.Symbol(n, integer=True, positive=True) for n in "BT")
    for nbytes in [4 * B, 20 * B, 2048 * B, B, 4 * B * T, 64 * B * T, 20 * B * (T + 1),
                   2 * B + 6, sympy.Integer(0), sympy.Integer(100), sympy.Integer(128)]:
        got = _aligned(nbytes)
        assert got == sympy.ceiling(nbytes / ALIGN) * ALIGN, nbytes
        for b, t in [(1, 1), (3, 7), (16, 5), (33, 64), (1000, 3)]:
            n = int(nbytes.subs({B: b, T: t}))
            assert int(got.subs({B: b, T: t})) == -(-n // ALIGN) * ALIGN, (nbytes, b, t)
