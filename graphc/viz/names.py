"""What a drawing calls each output: `loss`, `grad W0`, rather than `output 3`.

A name the caller gives wins (`names=[...]`, or the keys of a dict of outputs). Otherwise
gc.grad tells us what it built: it calls `remember_gradients`, so the scalar it
differentiated is the `loss` and each result is `grad <input>`. The memory is weak: it holds
no node alive, and forgets a node when the graph is gone. It is keyed by identity, not by
weakref.WeakKeyDictionary: weak references compare their nodes with `==`, which builds a
comparison node.
"""
from __future__ import annotations

import weakref

# id(node) -> (a weak reference whose callback forgets the entry, the node's name)
_NAMES: dict[int, tuple[weakref.ref, str]] = {}


def _remember(node, name: str) -> None:
    """Name `node` unless it has a name: the first gc.grad that built a gradient names it, and
    a gradient's name wins over `loss` (d/dx of a gradient is still that gradient)."""
    key = id(node)
    if key not in _NAMES or (_NAMES[key][1] == "loss" and name != "loss"):
        _NAMES[key] = (weakref.ref(node, lambda _, k=key: _NAMES.pop(k, None)), name)


def remember_gradients(y, targets, grads) -> None:
    """Called by gc.grad: `grads[k]` is d y / d targets[k]."""
    for target, g in zip(targets, grads):
        label = target.name if target.op == "input" else target.op
        _remember(g, f"grad {label}")
    _remember(y, "loss")


def inferred_name(node) -> str | None:
    """'grad W' for what gc.grad returned for W, 'loss' for what it differentiated."""
    entry = _NAMES.get(id(node))
    if entry is not None and entry[0]() is node:
        return entry[1]
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
