"""Random graphs of the kinds tests/strategies.py leaves out, for the pass property tests:
a symbolic batch dim B (so shapes and bodies such as a mean's x/B are symbolic), float32,
float64 and int64 inputs mixed, a 0-d input, dtype conversions, keepdims reductions and
broadcasts. `mixed_graph()` draws a `Built` whose feeds hold arrays for B = `Built.batch`."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import graphc as gc
from graphc.errors import ShapeError
from graphc.ir.shapes import dim
from strategies import Built

INPUTS = {"x": (("B", 3), "float32"), "y": (("B", 3), "float64"), "i": (("B", 3), "int64"),
          "w": ((3, 3), "float32"), "v": ((3,), "float64"), "s": ((), "float32")}
UNARY = [("tanh", gc.tanh), ("exp_tanh", lambda t: gc.exp(gc.tanh(t))), ("neg", gc.neg),
         ("relu", gc.relu), ("half", lambda t: t * 0.5), ("square", lambda t: t * t),
         ("sigmoid", gc.sigmoid), ("log1p_sq", lambda t: gc.log(1.0 + t * t))]
BINARY = [("add", gc.add), ("sub", gc.sub), ("mul", gc.mul),
          ("div", lambda p, q: p / (1.5 + q * q))]
REDUCE = ["sum", "mean", "max", "logsumexp"]


@st.composite
def mixed_graph(draw, max_steps: int = 8):
    inputs = {k: gc.tensor(k, s, dtype=d) for k, (s, d) in INPUTS.items()}
    pool, steps = list(inputs.values()), []
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "astype",
                                     "matmul", "broadcast", "layout"]))
        src = draw(st.sampled_from(pool))
        try:
            if kind == "unary":
                name, f = draw(st.sampled_from(UNARY))
                node = f(src)
            elif kind == "binary":
                name, f = draw(st.sampled_from(BINARY))
                node = f(src, draw(st.sampled_from(pool)))
            elif kind == "reduce" and src.ndim:
                name = draw(st.sampled_from(REDUCE))
                axis = draw(st.integers(-src.ndim, src.ndim - 1))
                keep = draw(st.booleans())
                node = getattr(gc, name)(src, axis=axis, keepdims=keep)
                name += f"(axis={axis}, keepdims={keep})"
            elif kind == "astype":
                name = draw(st.sampled_from(["float32", "float64"]))
                node = gc.astype(src, name)
            elif kind == "matmul" and src.ndim == 2 and src.dtype != "int64":
                name, node = "matmul", src @ inputs["w"]
            elif kind == "broadcast" and src.ndim < 2:
                name, node = "broadcast", gc.broadcast_to(src, ("B", 3))
            elif kind == "layout" and src.ndim == 2:
                name, node = "transpose", src.T
            elif kind == "layout":
                name, node = "reshape", src.reshape(-1)
            else:
                continue
        except (ShapeError, TypeError, ValueError):
            continue  # not a graph a user could build (shapes or dtypes do not fit)
        pool.append(node)
        steps.append(f"{name} of {src.op}{tuple(src.shape)} {src.dtype}")
    picked = draw(st.lists(st.sampled_from(pool[len(inputs):] or pool), min_size=1,
                           max_size=3, unique_by=id))
    batch = draw(st.sampled_from([1, 4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    used = {n.name for n in gc.Graph.of(picked).inputs}
    feeds = {}
    for k, (shape, dtype) in INPUTS.items():
        size = tuple(batch if d == "B" else d for d in shape)
        feeds[k] = (rng.integers(-3, 4, size=size) if dtype == "int64"
                    else rng.uniform(-1.5, 1.5, size=size)).astype(dtype)
    built = Built([inputs[k] for k in inputs if k in used], picked,
                  {k: v for k, v in feeds.items() if k in used}, steps)
    built.dims = {dim("B"): batch}
    return built
