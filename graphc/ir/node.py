"""The IR node: one immutable class for every value in a graph.

A node is an op name, its input nodes, its attributes, and the shape and dtype its op's
shape rule inferred when it was built. Nodes compare by identity; structural equality (for
common-subexpression elimination) is `node.key`. A graph is just its output nodes.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tensor_ops import TensorOps

# Nodes built while gc.grad runs are marked "grad", so drawings colour the backward graph;
# nodes built inside a gc.nn module's forward carry its dotted name ("blocks.0.attn"), so
# drawings can group a large model by the modules that made it.
_origin = contextvars.ContextVar("graphc_origin", default="forward")
_scope = contextvars.ContextVar("graphc_scope", default="")


@contextlib.contextmanager
def building(origin: str | None = None, scope: str | None = None):
    """Mark every node built inside the block with `origin` ("forward" or "grad") and/or
    `scope` (the name of the module building it); None leaves that mark as it is."""
    tokens = [(var, var.set(value)) for var, value in ((_origin, origin), (_scope, scope))
              if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def building_like(node: "Node"):
    """Build replacements of `node` with its marks (a fused backward kernel stays backward)."""
    return building(node.origin, node.scope)


class Attrs:
    """An immutable, hashable mapping of an op's attributes (sorted by key)."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: dict | None = None):
        self._items = tuple(sorted((items or {}).items()))
        self._hash = hash(self._items)

    def __getitem__(self, key):
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key, default=None):
        for k, v in self._items:
            if k == key:
                return v
        return default

    def __contains__(self, key):
        return any(k == key for k, _ in self._items)

    def items(self):
        return self._items

    def as_dict(self) -> dict:
        return dict(self._items)

    def replace(self, **changes) -> "Attrs":
        d = self.as_dict()
        for k, v in changes.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        return Attrs(d)

    def __eq__(self, other):
        return isinstance(other, Attrs) and self._items == other._items

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return "Attrs(" + ", ".join(f"{k}={v!r}" for k, v in self._items) + ")"


class Const:
    """A constant array as an attribute value: hashable by content, never mutated."""

    __slots__ = ("array", "_hash")

    def __init__(self, array):
        a = np.array(array, copy=True)
        a.setflags(write=False)
        self.array = a
        self._hash = hash((a.dtype.str, a.shape, a.tobytes()))

    def __eq__(self, other):
        return (isinstance(other, Const) and self._hash == other._hash
                and self.array.dtype == other.array.dtype
                and self.array.shape == other.array.shape
                and np.array_equal(self.array, other.array))

    def __hash__(self):
        return self._hash

    def __repr__(self):
        a = self.array
        return repr(a.item()) if a.ndim == 0 else f"array{a.shape}"


@dataclass(frozen=True, eq=False)
class Node(TensorOps):
    """One value of a graph. Build nodes with `make`, never by hand."""

    op: str
    inputs: tuple
    attrs: Attrs
    shape: tuple
    dtype: str
    origin: str = field(default="forward")
    scope: str = field(default="")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str | None:
        """The input's name for an input node, else None."""
        return self.attrs.get("name") if self.op == "input" else None

    @property
    def key(self) -> tuple:
        """Structural identity given the inputs' identities (what CSE merges on)."""
        return (self.op, tuple(id(i) for i in self.inputs), self.attrs, self.dtype)

    def __repr__(self):
        from .shapes import fmt_shape
        label = f"{self.op}:{self.name}" if self.op == "input" else self.op
        return f"<{label} {fmt_shape(self.shape)} {self.dtype}>"


def make(op: str, inputs=(), **attrs: Any) -> Node:
    """Build a node of `op`: its shape rule checks the inputs and infers shape and dtype."""
    from .op import get_op
    opdef = get_op(op)
    inputs = tuple(inputs)
    a = Attrs({k: v for k, v in attrs.items() if v is not None})
    shape, dtype = opdef.infer(inputs, a)
    return Node(op, inputs, a, tuple(shape), dtype, _origin.get(), _scope.get())


def same_nodes(a, b) -> bool:
    """Two sequences of the very same nodes (identity: `==` on nodes builds a graph node)."""
    return len(a) == len(b) and all(p is q for p, q in zip(a, b))


def rebuild(node: Node, inputs=None, **attr_changes) -> Node:
    """The same op over new inputs and/or changed attributes (shape rule re-run)."""
    from .op import get_op
    inputs = node.inputs if inputs is None else tuple(inputs)
    attrs = node.attrs.replace(**attr_changes) if attr_changes else node.attrs
    # identity, not ==: comparing nodes with == builds a comparison node
    if same_nodes(inputs, node.inputs) and attrs == node.attrs:
        return node
    shape, dtype = get_op(node.op).infer(inputs, attrs)
    return Node(node.op, inputs, attrs, tuple(shape), dtype, node.origin, node.scope)
