"""The peers graphc's benchmarks compare against, each built the idiomatic way.

Each maker takes (params, X, y, lr) and returns (step, get_params); a missing library raises
ImportError and the benchmark skips it. params = [W0, b0, W1, b1, ...] with W of shape
(fan_in, fan_out), float32.
"""
from __future__ import annotations

import numpy as np


def make_data(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32))
        params.append((0.01 * rng.standard_normal(b)).astype(np.float32))
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=batch).astype(np.int64)
    return params, X, y


def reference_update(params, X, y, lr):
    """Parameters after one SGD step, computed in float64 (the correctness check)."""
    step, get = numpy_step([p.astype(np.float64) for p in params], X.astype(np.float64), y, lr)
    step()
    return get()


def numpy_step(params, X, y, lr):
    P = [p.copy() for p in params]
    n = len(P) // 2
    rows = np.arange(len(y))

    def step():
        acts, h = [X], X
        for i in range(n):
            h = h @ P[2 * i] + P[2 * i + 1]
            if i < n - 1:
                h = np.maximum(h, 0)
                acts.append(h)
        z = np.exp(h - h.max(1, keepdims=True))
        d = z / z.sum(1, keepdims=True)
        d[rows, y] -= 1
        d /= len(y)
        for i in reversed(range(n)):
            gW, gb = acts[i].T @ d, d.sum(0)
            if i > 0:
                d = (d @ P[2 * i].T) * (acts[i] > 0)
            P[2 * i] -= lr * gW
            P[2 * i + 1] -= lr * gb
    return step, lambda: P


def torch_eager(params, X, y, lr):
    import torch
    P = [torch.tensor(p, requires_grad=True) for p in params]
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    n = len(P) // 2

    def step():
        h = tX
        for i in range(n):
            h = h @ P[2 * i] + P[2 * i + 1]
            if i < n - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, ty)
        for p in P:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in P:
                p -= lr * p.grad
    return step, lambda: [p.detach().numpy() for p in P]


def torch_compile(params, X, y, lr):
    """torch eager's step, whole, through torch.compile (inductor): Dynamo breaks the graph at
    .backward(), so the forward and backward run as one AOTAutograd graph and the update as
    another. The first call compiles (tens of seconds; inductor caches on disk)."""
    import torch
    step, get = torch_eager(params, X, y, lr)
    return torch.compile(step), get


def jax_jit(params, X, y, lr):
    import jax
    import jax.numpy as jnp
    n = len(params) // 2

    def loss_fn(P, x, t):
        h = x
        for i in range(n):
            h = h @ P[2 * i] + P[2 * i + 1]
            if i < n - 1:
                h = jax.nn.relu(h)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h), t[:, None], axis=1))

    @jax.jit
    def update(P, x, t):
        g = jax.grad(loss_fn)(P, x, t)
        return [p - lr * gp for p, gp in zip(P, g)]
    state = {"P": [jnp.asarray(p) for p in params]}
    jX, jy = jnp.asarray(X), jnp.asarray(y.astype(np.int32))

    def step():
        state["P"] = update(state["P"], jX, jy)
        jax.block_until_ready(state["P"])
    return step, lambda: [np.asarray(p) for p in state["P"]]


PEERS = {"torch eager": torch_eager, "torch.compile": torch_compile, "jax.jit": jax_jit}
