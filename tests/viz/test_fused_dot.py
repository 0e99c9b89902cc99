"""Drawing optimized graphs: each fused kernel is one box (double border) listing the ops it
replaced, in order; each contraction shows its tile sizes. Mirrors the fused-node part of
graphc/viz/labels.py and dot.py."""
import re
import shutil
import subprocess

import pytest

import graphc as gc
from graphc.passes.pipeline import PIPELINE, optimize
from graphc.viz import labels


@pytest.fixture(scope="module")
def optimized():
    x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), dtype="int64")
    W1, b1 = gc.tensor("W1", (6, 5)), gc.tensor("b1", (5,))
    W2, b2 = gc.tensor("W2", (5, 3)), gc.tensor("b2", (3,))
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, y)
    raw = gc.Graph.of([loss] + gc.grad(loss, [W1, b1, W2, b2]))
    return raw, optimize(raw, PIPELINE)[0]


def _box_labels(text):
    return re.findall(r'^\s*n\d+ \[label="([^"]*)"', text, flags=re.M)


def test_each_fused_kernel_is_one_box_listing_its_ops(optimized):
    _, graph = optimized
    text = gc.to_dot(graph)
    fused = [n for n in graph.nodes() if "fused" in n.attrs]
    boxes = [b for b in re.findall(r"^\s*n\d+ \[(.*)\];$", text, flags=re.M)
             if "peripheries=2" in b]
    assert len(boxes) == len(fused) >= 5
    assert "subgraph" not in text  # no cluster of op ellipses per kernel: compact
    titles = _box_labels(text)
    assert any(t.startswith("matmul → add → relu\\nfused kernel of 3 ops\\ntile ")
               for t in titles)
    for n in fused:  # every replaced op is named, in order
        assert labels.fused_title(n.attrs["fused"]).replace("\n", "\\n") in text
    assert "Piecewise" not in text and "t0 = " not in text


def test_a_long_chain_wraps():
    ops = ["sub", "exp", "mul", "add", "dtanh/dx", "mul"]
    assert labels.fused_title(ops) == "sub → exp → mul → add →\ndtanh/dx → mul"


def test_contractions_show_their_tile_sizes(optimized):
    _, graph = optimized
    contractions = [lab for lab in _box_labels(gc.to_dot(graph))
                    if lab.startswith(("x @ y", "matmul"))]
    assert len(contractions) == 5  # 2 forward, dh with its relu' epilogue, 2 weight grads
    assert all(re.search(r"\\ntile \d+x\d+x\d+ parallel axis \d\\n", lab)
               for lab in contractions)
    assert "fused kernel: the ops it replaced" in gc.to_dot(graph)  # in the legend


def test_the_raw_graph_has_no_fused_boxes_and_no_tiles(optimized):
    raw, _ = optimized
    text = gc.to_dot(raw)
    assert "peripheries=2" not in text and "tile " not in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_draws_the_fused_graph(optimized):
    res = subprocess.run(["dot", "-Tsvg"], input=gc.to_dot(optimized[1]), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
