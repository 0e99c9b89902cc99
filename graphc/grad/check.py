"""gc.check_grad: a graph's symbolic gradients against central finite differences in float64."""
from __future__ import annotations

import numpy as np

from ..ir.graph import graph_inputs
from ..ir.node import Node
from ..ops.common import is_float


def check_grad(y: Node, wrt, inputs: dict, eps: float = 1e-6, rtol: float = 1e-5,
               atol: float = 1e-7, max_points: int = 24, seed: int = 0) -> dict:
    """Compare gc.grad(y, wrt) with central differences, everything computed in float64.

    `wrt` are input tensors (the ones finite differences can perturb); `inputs` maps every
    input name to an array. Checks up to `max_points` sampled elements of each gradient plus
    one random direction through all of them; raises AssertionError naming the input and the
    element on a mismatch. Returns {input name: largest absolute error}.

    >>> import graphc as gc, numpy as np
    >>> x = gc.tensor("x", (3,))
    >>> errs = gc.check_grad(gc.tanh(x).sum(), [x], {"x": np.array([0.1, -2.0, 3.0])})
    """
    from ..compile import compile
    from .driver import grad
    wrt = [wrt] if isinstance(wrt, Node) else list(wrt)
    for t in wrt:
        if not isinstance(t, Node) or t.op != "input":
            raise TypeError("check_grad: wrt must be input tensors (made by gc.tensor), "
                            f"got {t!r}")
    grads = grad(y, wrt)
    f_y = compile(y, backend="reference", opt_level=0, upcast=True)
    f_g = compile(grads, backend="reference", opt_level=0, upcast=True)
    # by the declared dtype, not the given one: integer values for a float input must become
    # float64 too, or the finite-difference step would be rounded away
    floats = {i.name for i in graph_inputs([y] + wrt) if is_float(i.dtype)}
    feeds = {k: np.array(v, dtype=np.float64) if k in floats or np.asarray(v).dtype.kind == "f"
             else np.asarray(v) for k, v in inputs.items()}

    def value(point):
        return float(f_y(**{k: v for k, v in point.items() if k in f_y.input_names}))

    # the gradients may read fewer inputs than y (or none: d(sum(w*x))/dx = w)
    symbolic = f_g(**{k: v for k, v in feeds.items() if k in f_g.input_names})
    rng = np.random.default_rng(seed)
    errors = {}
    for t, g in zip(wrt, symbolic):
        base = feeds[t.name]
        g = np.broadcast_to(np.asarray(g, dtype=np.float64), base.shape)
        flat = list(range(base.size))
        if base.size > max_points:
            flat = sorted(rng.choice(base.size, size=max_points, replace=False))
        worst = 0.0
        for k in flat:
            idx = np.unravel_index(k, base.shape)
            num = _central(value, feeds, t.name, eps, lambda a, s: _bump(a, idx, s))
            worst = _compare(t.name, f"element {tuple(map(int, idx))}", g[idx], num, rtol,
                             atol, worst)
        direction = rng.standard_normal(base.shape)
        num = _central(value, feeds, t.name, eps, lambda a, s: a + s * direction)
        worst = _compare(t.name, "a random direction", float(np.sum(g * direction)), num,
                         rtol, atol * max(1.0, np.abs(direction).sum()), worst)
        errors[t.name] = worst
    return errors


def _bump(a, idx, step):
    b = a.copy()
    b[idx] += step
    return b


def _central(value, feeds, name, eps, move):
    plus = dict(feeds, **{name: move(feeds[name], eps)})
    minus = dict(feeds, **{name: move(feeds[name], -eps)})
    return (value(plus) - value(minus)) / (2 * eps)


def _compare(name, where, symbolic, numeric, rtol, atol, worst):
    err = abs(float(symbolic) - float(numeric))
    if not err <= atol + rtol * max(abs(float(symbolic)), abs(float(numeric))):
        raise AssertionError(f"check_grad: gradient for {name!r} at {where}: symbolic "
                             f"{float(symbolic):.10g} vs finite differences {float(numeric):.10g} "
                             f"(|diff| {err:.3g})")
    return max(worst, err)
