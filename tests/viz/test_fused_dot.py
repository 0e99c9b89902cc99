"""Drawing optimized graphs: each fused node is a cluster holding the ops it replaced, in
order, titled with its body as straight-line code; each contraction shows its tile sizes.
Mirrors the fused-node part of graphc/viz/dot.py."""
import re
import shutil
import subprocess

import pytest

import graphc as gc
from graphc.passes.pipeline import PIPELINE, optimize


@pytest.fixture(scope="module")
def optimized():
    x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), dtype="int64")
    W1, b1 = gc.tensor("W1", (6, 5)), gc.tensor("b1", (5,))
    W2, b2 = gc.tensor("W2", (5, 3)), gc.tensor("b2", (3,))
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, y)
    raw = gc.Graph.of([loss] + gc.grad(loss, [W1, b1, W2, b2]))
    return raw, optimize(raw, PIPELINE)[0]


def _clusters(text):
    """cluster name -> the statements inside it."""
    return dict(re.findall(r"subgraph (cluster_n\d+) \{\n(.*?)\n  \}", text, flags=re.S))


def test_each_fused_node_is_a_cluster_of_its_ops(optimized):
    _, graph = optimized
    text = gc.to_dot(graph)
    fused = [n for n in graph.nodes() if "fused" in n.attrs]
    clusters = _clusters(text)
    assert len(clusters) == len(fused) >= 5
    for body in clusters.values():
        kernel = re.search(r"^\s*(n\d+) \[", body, flags=re.M).group(1)
        ops = re.findall(rf'^\s*{kernel}_op\d+ \[label="([^"]+)"', body, flags=re.M)
        chain = re.search(rf"^\s*({kernel}_op0 -> .* -> {kernel}) ", body, flags=re.M)
        assert ops and chain and chain.group(1).count("->") == len(ops)
    relu_layer = next(b for b in clusters.values() if 'label="relu"' in b)
    assert re.findall(r'_op\d+ \[label="([^"]+)"', relu_layer) == ["matmul", "add", "relu"]
    # the title is the body as code, one line per statement
    assert 't2 = x0 + x1\\nt3 = relu(t2)\\nreturn t3' in relu_layer


def test_contractions_show_their_tile_sizes(optimized):
    _, graph = optimized
    text = gc.to_dot(graph)
    labels = re.findall(r'^\s*n\d+ \[label="([^"]*)"', text, flags=re.M)
    contractions = [lab for lab in labels if lab.startswith(("matmul", "fused_contraction"))]
    assert len(contractions) == 5  # 2 forward, dh with its relu' epilogue, 2 weight grads
    assert all(re.search(r"\\ntile \d+x\d+x\d+ parallel axis \d\\n", lab)
               for lab in contractions)
    assert any(lab.startswith("fused_reduce sum axes=[1]") for lab in labels)


def test_the_raw_graph_has_no_clusters_and_no_tiles(optimized):
    raw, _ = optimized
    text = gc.to_dot(raw)
    assert "subgraph" not in text and "tile " not in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_draws_the_clusters(optimized):
    res = subprocess.run(["dot", "-Tsvg"], input=gc.to_dot(optimized[1]), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count('class="cluster"') >= 5
