"""Graphs every backend must run: one per op and per way to call it, and the models the suite
trains. Each case is (name, build) where build() returns (outputs, feeds, dims); the cpu
tests compile each on "cpu" and "reference" and compare."""
from __future__ import annotations

import numpy as np

import graphc as gc

RNG = np.random.default_rng(5)


def _f(shape, dtype="float32", scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def elementwise_ops():
    x, y = gc.tensor("x", ("B", 5)), gc.tensor("y", (5,))
    pos = gc.tensor("p", ("B", 5))
    outs = [x + y, x - y, x * y, x / (1.5 + y * y), x ** 2, -x, gc.exp(x), gc.log(pos),
            gc.sqrt(pos), gc.tanh(x), gc.sigmoid(x), gc.relu(x), gc.gelu(x), 2.0 * x + 1.0,
            gc.astype(x, "float64"), gc.astype(x * 3.0, "int32"), x / 0.0,
            gc.where(gc.one_hot(gc.tensor("i", ("B",), "int64"), 5, "bool"), x, -x)]
    feeds = {"x": _f((4, 5)), "y": _f(5), "p": np.abs(_f((4, 5))) + 0.1,
             "i": RNG.integers(0, 5, 4)}
    return outs, feeds


def integer_and_bool_math():
    i, j = gc.tensor("i", ("B", 3), "int8"), gc.tensor("j", (3,), "int32")
    m = gc.tensor("m", ("B", 3), "bool")
    outs = [i + j, gc.sum(i, axis=0), gc.sum(gc.broadcast_to(gc.tensor("k", (3,), "int8"), (300, 3)), axis=0),
            gc.mean(m, axis=0), gc.max(i, axis=1), gc.astype(i, "int64") * 300,
            gc.exp(j), gc.logsumexp(j)]
    feeds = {"i": RNG.integers(-128, 127, (4, 3)).astype(np.int8),
             "j": RNG.integers(-5, 5, 3).astype(np.int32), "k": np.array([1, -128, 127], np.int8),
             "m": RNG.integers(0, 2, (4, 3)).astype(bool)}
    return outs, feeds


def reductions():
    x = gc.tensor("x", (2, 3, 4), "float64")
    outs = []
    for op in (gc.sum, gc.mean, gc.max, gc.logsumexp):
        for axis in (None, 0, 1, 2, (0, 2), (1, 2), (0, 1)):
            for keep in (False, True):
                outs.append(op(x, axis=axis, keepdims=keep))
    return outs, {"x": _f((2, 3, 4), "float64")}


def softmax_family():
    z, y = gc.tensor("z", ("B", 6)), gc.tensor("y", ("B",), "int64")
    outs = [gc.softmax(z), gc.log_softmax(z), gc.softmax(z, axis=0), gc.log_softmax(z, axis=0),
            gc.cross_entropy(z, y), gc.cross_entropy(z, y, reduction="none")]
    zz = _f((9, 6), scale=3.0)
    zz[1, 2] = -np.inf
    zz[2, 3] = np.nan
    zz[3, 1] = np.inf
    zz[4] = -np.inf
    zz[5, :3] = [3e38, -3e38, 1e30]
    zz[6] = [0.0, -0.0, 0.0, -0.0, 1e-40, -1e-40]  # zeros and subnormals
    zz[7] = 80.0  # exponentials past float32's range, unless the maximum comes off first
    return outs, {"z": zz, "y": RNG.integers(0, 6, 9)}


def contractions():
    a, b = gc.tensor("a", ("B", 3, 4)), gc.tensor("b", ("B", 4, 5))
    w = gc.tensor("w", (4, 5))
    v = gc.tensor("v", (4,))
    outs = [a @ b, a @ w, gc.einsum("bik,bkj->bij", a, b), gc.einsum("bik,kj->bji", a, w),
            gc.einsum("bik,bjk->bij", a, gc.transpose(b, (0, 2, 1))),
            a @ v, gc.einsum("bik,k->bi", a, v), gc.relu(a @ w + 1.0),
            gc.transpose(a, (0, 2, 1)) @ a, gc.einsum("ij,jk->ik", w.T, w),
            gc.einsum("bij,bij->b", a, a),
            a @ gc.tensor("u", (1, 4, 5)), gc.tensor("u2", (2, 1, 3, 4)) @ b]  # batch of 1
    feeds = {"a": _f((2, 3, 4)), "b": _f((2, 4, 5)), "w": _f((4, 5)), "v": _f(4),
             "u": _f((1, 4, 5)), "u2": _f((2, 1, 3, 4))}
    return outs, feeds


def layouts():
    x = gc.tensor("x", ("B", 3, 4))
    t = gc.transpose(x, (0, 2, 1))
    outs = [t, gc.reshape(t, ("B", 12)), gc.reshape(x, (-1, 4)), x.T,
            gc.broadcast_to(gc.tensor("s", (4,)), ("B", 3, 4)) + x,
            gc.reshape(gc.exp(t), (-1,)), gc.stop_gradient(x) * 2.0, x]
    return outs, {"x": _f((2, 3, 4)), "s": _f(4)}


def mlp_training():
    x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), "int64")
    w1, b1 = gc.tensor("W1", (6, 8)), gc.tensor("b1", (8,))
    w2, b2 = gc.tensor("W2", (8, 3)), gc.tensor("b2", (3,))
    loss = gc.cross_entropy(gc.relu(x @ w1 + b1) @ w2 + b2, y)
    outs = [loss] + gc.grad(loss, [w1, b1, w2, b2])
    feeds = {"x": _f((5, 6)), "y": RNG.integers(0, 3, 5), "W1": _f((6, 8)), "b1": _f(8),
             "W2": _f((8, 3)), "b2": _f(3)}
    return outs, feeds


def attention():
    q, k, v = (gc.tensor(n, ("B", 4, 8)) for n in "qkv")
    scores = gc.einsum("bqd,bkd->bqk", q, k) * (1 / np.sqrt(8))
    out = gc.einsum("bqk,bkd->bqd", gc.softmax(scores, axis=-1), v)
    loss = gc.mean(gc.gelu(out) ** 2)
    return [loss] + gc.grad(loss, [q, k, v]), {n: _f((2, 4, 8)) for n in "qkv"}


def layernorm():
    x = gc.tensor("x", ("B", 6))
    g, w = gc.tensor("g", (6,)), gc.tensor("W", (6, 6))
    mu = gc.mean(x, axis=-1, keepdims=True)
    var = gc.mean((x - mu) ** 2, axis=-1, keepdims=True)
    h = (x - mu) / gc.sqrt(var + 1e-5) * g
    loss = gc.sum(gc.log_softmax(gc.sigmoid(h @ w), axis=-1))
    return [loss] + gc.grad(loss, [x, g, w]), {"x": _f((3, 6)), "g": _f(6), "W": _f((6, 6))}


def transformer_block():
    gc.nn.manual_seed(0)
    block = gc.nn.TransformerBlock(8, 2, mlp_ratio=2)
    x = gc.tensor("x", ("B", 4, 8))
    loss = gc.mean(block(x) ** 2)
    params = block.parameters()
    feeds = {p.node.name: p.value for p in params}
    feeds["x"] = _f((2, 4, 8))
    return [loss] + gc.grad(loss, [p.node for p in params]), feeds


def second_order():
    x, v = gc.tensor("x", (5,), "float64"), gc.tensor("v", (5,), "float64")
    g = gc.grad(gc.sum(gc.tanh(x) * gc.sigmoid(x)), x)
    hv = gc.grad(gc.sum(g * v), x)
    return [g, hv], {"x": _f(5, "float64"), "v": _f(5, "float64")}


CASES = [elementwise_ops, integer_and_bool_math, reductions, softmax_family, contractions,
         layouts, mlp_training, attention, layernorm, transformer_block, second_order]


# ---- the ops users expect (issue 9): every backend runs them --------------------------------
def comparisons_and_selection():
    x, y = gc.tensor("x", ("B", 5)), gc.tensor("y", (5,))
    i = gc.tensor("i", ("B", 5), "int32")
    outs = [x > y, x >= 0.5, x < y, x <= y, x == y, x != 0.0, i > 2, gc.where(x > y, x, y),
            gc.maximum(x, y), gc.minimum(x, 0.0), gc.abs(x), gc.clip(x, -0.5, 0.5),
            gc.maximum(i, 1), gc.abs(i), gc.relu(gc.where(x > 0, x, -x) * 2.0),
            gc.clip(x, y, 1.0)]
    xx = _f((4, 5))
    xx[0, :3] = [np.nan, np.inf, -np.inf]
    xx[1, 0] = 0.5
    yy = _f(5)
    xx[2, 1] = yy[1]  # a tie
    return outs, {"x": xx, "y": yy, "i": RNG.integers(-4, 5, (4, 5)).astype(np.int32)}


def min_argmax_and_positions():
    x = gc.tensor("x", ("B", "T", 4))
    t = gc.tensor("t", ("T", "T"))
    outs = [gc.min(x), gc.min(x, axis=1), gc.min(x, axis=(0, 2), keepdims=True),
            gc.argmax(x), gc.argmax(x, axis=1), gc.argmax(x, axis=0), gc.arange("T"),
            gc.arange(3) * 2, gc.tril(t), gc.triu(t, 1), gc.tril(x, -1)]
    xx = _f((2, 3, 4))
    xx[0, 1, :2] = xx[0, 1, 2]  # ties: the first index
    return outs, {"x": xx, "t": _f((3, 3))}


def indexing_and_joining():
    x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B", 2))
    a, b, c = gc.split(x, [1, 2, 3], axis=1)
    outs = [x[0], x[:, 1:], x[:, ::2], x[::-1, 4:1:-1], x[None, :, -1], x[..., 2:3],
            gc.concat([x, y, x[:, :1]], axis=1), gc.stack([y, y * 2.0], axis=0),
            gc.stack([x[:, 0], x[:, 5]], axis=1), a, b * 2.0, c, *gc.split(x, 2, axis=1),
            gc.exp(x[:, 1:] - x[:, :-1]),
            # one element picked out (an offset and no strides), and one-element pieces
            x[1, 2], gc.broadcast_to(x[0, 3], (2, 2)) * 2.0, gc.concat([x[0], x[1, :1]], axis=0)]
    return outs, {"x": _f((3, 6)), "y": _f((3, 2))}


def gathers_and_their_gradients():
    table = gc.tensor("table", (7, 4))
    ids = gc.tensor("ids", ("B", 3), "int64")
    x, j = gc.tensor("x", ("B", 5)), gc.tensor("j", ("B", 2), "int64")
    emb = gc.take(table, ids)
    picked = gc.take_along_axis(x, j, axis=1)
    cols = gc.take(x, gc.constant(np.array([4, 0, 0, -1])), axis=1)
    loss = gc.sum(gc.tanh(emb)) + gc.sum(picked * picked) + gc.sum(cols * cols)
    computed = gc.take(table, gc.argmax(x, axis=1))  # indices from the graph: checked as run
    outs = [emb, picked, cols, computed, loss, *gc.grad(loss, [table, x])]
    return outs, {"table": _f((7, 4)), "x": _f((3, 5)),
                  "ids": np.array([[0, 6, 6], [-1, 2, 3], [3, 3, 3]]),  # repeated, negative
                  "j": np.array([[0, 4], [1, 1], [4, -5]])}


def convolution_and_pooling():
    x, w, b = gc.tensor("x", ("N", 2, 5, 5)), gc.tensor("w", (2, 2, 3, 3)), gc.tensor("b", (2,))
    h = gc.relu(gc.conv2d(x, w, b, padding=1))
    outs = [h, gc.conv2d(x, w, stride=2), gc.avg_pool2d(h, 3, stride=2),
            gc.max_pool2d(x, (2, 3), stride=(1, 2))]
    loss = gc.sum(gc.max_pool2d(h, 2) ** 2)
    outs += [loss, *gc.grad(loss, [x, w, b])]
    return outs, {"x": _f((1, 2, 5, 5)), "w": _f((2, 2, 3, 3)), "b": _f(2)}


def dropout_and_stop_gradient():
    x, seed = gc.tensor("x", ("B", 9)), gc.tensor("seed", (), "int64")
    kept = gc.dropout(x, 0.3, seed)
    loss = gc.sum(kept * gc.stop_gradient(x)) + gc.sum(gc.dropout(x, 0.5, seed, stream=1))
    outs = [kept, gc.dropout(x * 2.0, 0.9, seed, stream=7), loss, *gc.grad(loss, [x])]
    return outs, {"x": _f((5, 9)), "seed": np.array(-12345, np.int64)}


NEW_OPS = [comparisons_and_selection, min_argmax_and_positions, indexing_and_joining,
           gathers_and_their_gradients, convolution_and_pooling, dropout_and_stop_gradient]
CASES += NEW_OPS
