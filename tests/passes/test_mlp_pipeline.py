"""The whole pipeline on the lecture's MLP (784-256-256-10, relu, cross-entropy, forward +
backward for every parameter): exact node and kernel counts, the same results as the raw
graph, and the fusion passes in sequence on random graphs. Mirrors graphc/passes/pipeline.py
as far as the fusion passes are concerned."""
import numpy as np
import pytest
from hypothesis import given

import graphc as gc
from fusion_models import assert_same, feeds_for, mlp_graph
from graphc.passes.fuse_elementwise import fuse_elementwise
from graphc.passes.fuse_epilogue import fuse_matmul_epilogue
from graphc.passes.kernels import kernels
from graphc.passes.pipeline import optimize, resolve
from graphc.passes.tile import tile
from strategies import random_graph

# What the pipeline makes of the MLP: one kernel per contraction with its epilogue, and the
# few kernels cross-entropy needs. Order: as the graph computes them.
EXPECTED_KERNELS = [
    ("fused_contraction", ("matmul", "add", "relu")),     # h1 = relu(x@W1 + b1)
    ("fused_contraction", ("matmul", "add", "relu")),     # h2 = relu(h1@W2 + b2)
    ("fused_contraction", ("matmul", "add")),             # logits = h2@W3 + b3
    ("log_softmax", None),                                # ls = log_softmax(logits)
    ("one_hot", None),                                    # mask = one_hot(y) (bool)
    ("fused_reduce", ("where", "sum", "neg", "div")),     # loss = -sum(where(mask, ls, 0))/B
    # the cotangent g = where(mask, -1/B, 0) is cheap: each backward kernel computes it
    ("fused_reduce", ("ddiv/dx", "dneg/dx", "dwhere/dx", "sum")),  # sum(g) per row
    ("elementwise", ("ddiv/dx", "dneg/dx", "dwhere/dx", "exp", "mul", "sub")),  # dlogits
    ("fused_contraction", ("matmul", "drelu/dx")),        # dz2 = dlogits@W3ᵀ * [h2 > 0]
    ("fused_contraction", ("matmul", "drelu/dx")),        # dz1 = dz2@W2ᵀ * [h1 > 0]
    ("matmul", None), ("sum", None),                      # dW1 = xᵀ@dz1, db1
    ("matmul", None), ("sum", None),                      # dW2, db2
    ("matmul", None), ("sum", None),                      # dW3, db3
]
NODES_BEFORE, NODES_AFTER = 48, 29


@pytest.fixture(scope="module")
def mlp():
    raw = mlp_graph()
    optimized, report = optimize(raw)
    return raw, optimized, report


def test_node_and_kernel_counts_are_exact(mlp):
    raw, optimized, report = mlp
    assert len(raw) == NODES_BEFORE
    assert len(optimized) == NODES_AFTER
    assert [(n.op, n.attrs.get("fused")) for n in kernels(optimized)] == EXPECTED_KERNELS
    assert len(kernels(raw)) == 31 and len(kernels(optimized)) == 16
    assert [r.name for r in report] == [p.__name__ for p in resolve()]


def test_fast_math_finds_nothing_more_to_remove(mlp):
    raw, optimized, _ = mlp
    fast, _ = optimize(raw, fast_math=True)
    assert len(fast) == NODES_AFTER and len(kernels(fast)) == 16


def test_every_contraction_is_scheduled_and_fused_nodes_say_what_they_replaced(mlp):
    _, optimized, _ = mlp
    for n in kernels(optimized):
        assert ("schedule" in n.attrs) == (n.op in ("matmul", "fused_contraction"))
        if n.op.startswith("fused_"):
            assert len(n.attrs["fused"]) >= 2
    # relu' is read through the forward output h: the pre-activation is never stored
    forward = [n for n in kernels(optimized) if n.op == "fused_contraction"
               and n.origin == "forward"]
    backward = [n for n in kernels(optimized) if n.op == "fused_contraction"
                and n.origin == "grad"]
    assert {id(n.inputs[2]) for n in backward} == {id(forward[0]), id(forward[1])}


def test_optimized_mlp_matches_the_raw_one_on_the_reference():
    raw = mlp_graph()
    names = [i.name for i in raw.inputs]
    f_raw = gc.compile(list(raw.outputs), inputs=list(raw.inputs), opt_level=0)
    f_opt = gc.compile(list(raw.outputs), inputs=list(raw.inputs))
    assert len(f_opt.graph) == NODES_AFTER and len(f_raw.graph) == NODES_BEFORE
    for batch in (1, 16):
        feeds, _ = feeds_for(raw, batch=batch, seed=batch)
        want = f_raw(**{k: feeds[k] for k in names})
        got = f_opt(**{k: feeds[k] for k in names})
        for w, g in zip(want, got):
            assert g.dtype == w.dtype == np.float32 and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("passes", [[fuse_elementwise], [fuse_matmul_epilogue], [tile],
                                    [fuse_elementwise, fuse_matmul_epilogue, tile], None],
                         ids=["fuse_elementwise", "fuse_matmul_epilogue", "tile", "fusion",
                              "pipeline"])
def test_passes_keep_the_mlp_results(passes):
    raw = mlp_graph((12, 7, 5, 3))
    optimized, _ = optimize(raw, passes)
    assert_same(raw, optimized, *feeds_for(raw, batch=6))


@given(random_graph(max_steps=8))
def test_fusion_passes_in_sequence_preserve_results(built):
    raw = gc.Graph.of(built.outputs, built.inputs)
    step = raw
    for p in (fuse_elementwise, fuse_matmul_epilogue, tile):
        step = p(step)
        assert_same(raw, step, built.feeds)


@given(random_graph(max_steps=8))
def test_whole_pipeline_preserves_results(built):
    raw = gc.Graph.of(built.outputs, built.inputs)
    optimized, _ = optimize(raw)
    assert len(kernels(optimized)) <= len(kernels(raw))
    assert_same(raw, optimized, built.feeds)
