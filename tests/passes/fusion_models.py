"""Shared by the fusion, tiling and kernel-count tests: the lecture's MLP, feeds for any
graph, and the check every pass test ends with (the reference gives the same results)."""
import numpy as np

import graphc as gc
from graphc.backend.reference import evaluate
from graphc.ir.shapes import dim

SIZES = (784, 256, 256, 10)


def mlp_graph(sizes=SIZES):
    """Forward + backward of an MLP with relu and cross-entropy: outputs [loss] + grads of
    every weight and bias (float32 x ("B", 784), int64 labels ("B",))."""
    x, y = gc.tensor("x", ("B", sizes[0])), gc.tensor("y", ("B",), dtype="int64")
    h, params = x, []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        W, b = gc.tensor(f"W{k}", (n_in, n_out)), gc.tensor(f"b{k}", (n_out,))
        params += [W, b]
        h = h @ W + b
        if k < len(sizes) - 1:
            h = gc.relu(h)
    loss = gc.cross_entropy(h, y)
    return gc.Graph.of([loss] + gc.grad(loss, params))


def feeds_for(graph, batch=8, seed=0):
    """Random arrays for the graph's inputs (every symbolic dim = batch) -> (feeds, dims)."""
    rng = np.random.default_rng(seed)
    dims = {}
    feeds = {}
    for i in graph.inputs:
        shape = []
        for d in i.shape:
            for s in getattr(d, "free_symbols", ()):
                dims[s] = batch
            shape.append(int(d.subs(dims)) if hasattr(d, "subs") else int(d))
        if i.dtype.startswith("int"):  # class labels: valid for every one_hot that reads them
            feeds[i.name] = rng.integers(0, _classes(graph), size=shape).astype(i.dtype)
        else:
            feeds[i.name] = (rng.standard_normal(shape) * 0.5).astype(i.dtype)
    return feeds, dims


def _classes(graph) -> int:
    """The smallest one_hot depth in the graph (10 where there is none)."""
    return min([n.attrs["depth"] for n in graph.nodes() if n.op == "one_hot"] or [10])


def assert_same(before, after, feeds, dims=None):
    """The two graphs give the same values (and dtypes and shapes) on the reference, bit for
    bit: fusion copies statements, it never recomposes them."""
    with np.errstate(all="ignore"):
        want = evaluate(list(before.outputs), feeds, dims or {})
        got = evaluate(list(after.outputs), feeds, dims or {})
    for k, (w, g) in enumerate(zip(want, got)):
        assert g.shape == w.shape and g.dtype == w.dtype, (k, g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_array_equal(g, w, err_msg=f"output {k}")


B = dim("B")
