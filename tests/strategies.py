"""Hypothesis strategies: random graphs over a few small inputs, with arrays to feed them.

`random_graph(draw)` builds a graph of elementwise, broadcasting, reduction, matmul and
layout ops the way a user might, so property tests (passes keep results; gradients match
finite differences) meet shapes and fan-out that hand-written cases miss.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import graphc as gc
from graphc.errors import ShapeError

INPUT_SHAPES = {"a": (3, 4), "b": (4,), "c": (4, 5), "d": (3, 1), "e": ()}

UNARY = [
    ("tanh", gc.tanh), ("sigmoid", gc.sigmoid), ("neg", gc.neg),
    ("scale", lambda t: 0.5 * t), ("square", lambda t: t * t * 0.25),
    ("exp_tanh", lambda t: gc.exp(gc.tanh(t))), ("softplus_like", lambda t: gc.log(1 + t * t)),
]
KINKED = [("relu", gc.relu)]  # derivative jumps at 0: fine for forward checks
BINARY = [("add", gc.add), ("sub", gc.sub), ("mul", gc.mul),
          ("div", lambda p, q: p / (1.5 + q * q))]


class Built:
    """A drawn graph: its inputs, outputs (the last one a scalar) and feeds."""

    def __init__(self, inputs, outputs, feeds, steps):
        self.inputs, self.outputs, self.feeds, self.steps = inputs, outputs, feeds, steps

    def __repr__(self):
        return "Built(" + " ; ".join(self.steps) + ")"


@st.composite
def random_graph(draw, max_steps: int = 8, kinks: bool = True, dtype: str = "float64"):
    inputs = {k: gc.tensor(k, s, dtype=dtype) for k, s in INPUT_SHAPES.items()}
    pool = list(inputs.values())
    steps = []
    unary = UNARY + (KINKED if kinks else [])
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "matmul",
                                     "layout"] + (["max"] if kinks else [])))
        node = None
        if kind == "unary":
            name, f = draw(st.sampled_from(unary))
            src = draw(st.sampled_from(pool))
            node, desc = f(src), f"{name}({src.op})"
        elif kind == "binary":
            name, f = draw(st.sampled_from(BINARY))
            p, q = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
            try:
                node, desc = f(p, q), f"{name}{p.shape}{q.shape}"
            except ShapeError:
                continue
        elif kind in ("reduce", "max"):
            src = draw(st.sampled_from([p for p in pool if p.ndim > 0] or pool))
            if src.ndim == 0:
                continue
            axis = draw(st.integers(-src.ndim, src.ndim - 1))
            keep = draw(st.booleans())
            op = "max" if kind == "max" else draw(st.sampled_from(["sum", "mean", "logsumexp"]))
            node = getattr(gc, op)(src, axis=axis, keepdims=keep)
            desc = f"{op}(axis={axis}, keepdims={keep})"
        elif kind == "matmul":
            pairs = [(p, q) for p in pool for q in pool
                     if p.ndim >= 1 and q.ndim >= 1 and p.shape[-1] == q.shape[0 if q.ndim == 1 else -2]]
            if not pairs:
                continue
            p, q = draw(st.sampled_from(pairs))
            node, desc = p @ q, f"matmul{p.shape}{q.shape}"
        else:
            src = draw(st.sampled_from(pool))
            if src.ndim == 2 and draw(st.booleans()):
                node, desc = src.T, "transpose"
            else:
                node, desc = src.reshape(-1), "reshape(-1)"
        pool.append(node)
        steps.append(desc)
    picked = draw(st.lists(st.sampled_from(pool[len(inputs):] or pool), min_size=1,
                           max_size=3, unique_by=id))
    scalar = gc.sum(picked[-1] * picked[-1]) if picked[-1].ndim else picked[-1] * 1.0
    outputs = picked + [scalar]
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    feeds = {k: rng.uniform(-1.5, 1.5, size=s).astype(dtype) for k, s in INPUT_SHAPES.items()}
    used = {n.name for n in gc.Graph.of(outputs).inputs}
    return Built([inputs[k] for k in inputs if k in used], outputs,
                 {k: v for k, v in feeds.items() if k in used}, steps)
