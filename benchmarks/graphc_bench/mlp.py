"""Block "mlp step": one SGD training step of a ReLU MLP (float32, softmax cross-entropy with
int64 labels, lr 0.01), graphc two ways against hand-written NumPy and the peers in peers.py.

Every system starts from the same parameters; the update of its first step is checked
against a float64 NumPy reference, so a fast wrong step cannot hide in the table."""
from __future__ import annotations

import numpy as np

from bench_train_step import graphc_step
from peers import PEERS, make_data, numpy_step, reference_update

from .table import Row, failure

CONFIGS = {"big": ((784, 512, 512, 10), 256), "small": ((64, 128, 10), 64)}
LR = 0.01
# torch eager shares its ratio column with the matmul block's torch a @ b
PEER_COLUMNS = {"torch eager": "torch"}
TOLERANCE = 1e-3  # largest |update - reference update| / largest |reference update|


def rows(protocol, args, footnotes: list[str]) -> list[Row]:
    out = []
    for name in args.mlp_configs:
        sizes, batch = CONFIGS[name]
        params, X, y = make_data(sizes, batch)
        reference = reference_update(params, X, y, LR)
        case = f"{name} {'-'.join(map(str, sizes))} b{batch}"
        systems = [("NumPy by hand", "NumPy", lambda: numpy_step(params, X, y, LR)),
                   ("graphc compile(grad)", None, lambda: _graphc_compiled(sizes, params, X, y)),
                   ("graphc train_step", None, lambda: graphc_train_step(sizes, params, X, y))]
        systems += [(label, PEER_COLUMNS.get(label, label),
                     lambda make=make: make(params, X, y, LR)) for label, make in PEERS.items()]
        for system, peer, make in systems:
            row = Row("mlp step", case, system, flops=matmul_flops(sizes, batch))
            out.append(_measure(protocol, row, peer, make, params, reference))
    return out


def _measure(protocol, row, peer, make, params, reference) -> Row:
    try:
        step, get = make()
        step()
    except Exception as e:  # a missing peer, or one that fails (no C compiler for inductor)
        row.note = failure(e)
        return row
    err = update_error(get(), reference, params)
    row.peer = peer
    row.timed(protocol.time_calls(step))
    row.note = f"update err {err:.1e}" if err <= TOLERANCE else \
        f"WRONG: first update differs from float64 by {err:.1e} (> {TOLERANCE:g})"
    return row


def update_error(got, reference, start) -> float:
    """How far one step's update is from the float64 reference's, relative to its size."""
    return max(float(np.max(np.abs((g.astype(np.float64) - s) - (r - s)))
                     / (np.max(np.abs(r - s)) + 1e-30))
               for g, r, s in zip(got, reference, start))


def matmul_flops(sizes, batch) -> float:
    """FLOPs of a step's matmuls: forward, weight gradients, and input gradients (none for
    the first layer, whose input is the data)."""
    forward = [2.0 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * sum(forward) + sum(forward[1:])


def _graphc_compiled(sizes, params, X, y):
    """gc.compile([loss] + [p - lr * g ...]), the new parameters fed back each step."""
    step, get, _, _ = graphc_step(sizes, params, X, y, LR, "cpu", None)
    return step, get


def graphc_train_step(sizes, params, X, y, backend="cpu"):
    """gc.train_step on a gc.nn.Sequential MLP that starts from `params`; -> (step, get)."""
    import graphc as gc
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = gc.nn.Linear(a, b)  # weight (in, out), the layout of `params`
        linear.weight.value, linear.bias.value = params[2 * i], params[2 * i + 1]
        layers += [linear, gc.nn.ReLU()]
    model = gc.nn.Sequential(*layers[:-1])
    x, labels = gc.tensor("x", ("B", sizes[0])), gc.tensor("y", ("B",), dtype="int64")
    loss = gc.nn.CrossEntropyLoss()(model(x), labels)
    step = gc.train_step(loss, gc.optim.SGD(model.parameters(), lr=LR), backend=backend)
    linears = layers[0::2]
    # the step updates the parameters in place: hand out copies
    return (lambda: step(x=X, y=y),
            lambda: [p.value.copy() for m in linears for p in (m.weight, m.bias)])
