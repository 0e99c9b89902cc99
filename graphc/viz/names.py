"""What a drawing calls each output: `loss`, `grad W0`, rather than `output 3`.

A name the caller gives wins (`names=[...]`, or the keys of a dict of outputs). Otherwise
gc.grad tells us what it built: it calls `remember_gradients`, so the scalar it
differentiated is the `loss` and each result is `grad <input>`. The memory is weak: it holds
no node alive, and forgets a node when the graph is gone.
"""
from __future__ import annotations

import weakref

_GRADIENT_OF: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_DIFFERENTIATED: "weakref.WeakSet" = weakref.WeakSet()


def remember_gradients(y, targets, grads) -> None:
    """Called by gc.grad: `grads[k]` is d y / d targets[k]."""
    _DIFFERENTIATED.add(y)
    for target, g in zip(targets, grads):
        label = target.name if target.op == "input" else target.op
        _GRADIENT_OF.setdefault(g, f"grad {label}")  # the first gc.grad that built it names it


def inferred_name(node) -> str | None:
    """'grad W' for what gc.grad returned for W, 'loss' for what it differentiated."""
    if node in _GRADIENT_OF:
        return _GRADIENT_OF[node]
    if node in _DIFFERENTIATED:
        return "loss"
    if node.op == "input":
        return node.name
    return None


def output_names(outputs, given=None) -> list[str]:
    """One name per output: `given` (a list, None entries inferred), else inferred, else
    'output k'."""
    if given is not None:
        given = list(given)
        if len(given) != len(outputs):
            raise ValueError(f"names: got {len(given)} names for {len(outputs)} outputs")
    names = []
    for k, node in enumerate(outputs):
        name = given[k] if given is not None and given[k] is not None else inferred_name(node)
        names.append(str(name) if name is not None else f"output {k}")
    return names
