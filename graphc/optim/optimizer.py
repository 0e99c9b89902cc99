"""The optimizer base: parameters, named state arrays, and the update written as graph nodes.

An optimizer does not update anything itself. `build_update` returns graph nodes for the new
parameters and the new state; gc.train_step compiles them together with the loss and its
gradients into one graph and copies the results back into the arrays kept here.

The learning rate is a graph input, fed from `optimizer.lr` at every step, so changing
`opt.lr` between steps (a schedule) needs no recompilation; the other hyperparameters are
constants of the graph.

Dtypes: the learning rate input has the parameters' dtype (float64 for a float64 model, so
its lr is not rounded to float32). Scalar state such as Adam's step count is float64, as
torch keeps it in Python floats, and what is derived from it is cast to a parameter's dtype
only where it meets the parameter (`UpdateGraph.scalar`): in float32, 1 - 0.999**t would
lose about five digits to cancellation.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import dsl
from ..ir.node import Node, make
from ..ir.shapes import as_shape
from ..nn.module import DeviceHeld, Module, Parameter


SCALAR_DTYPE = "float64"  # scalar optimizer state (see the module docstring)


class UpdateGraph:
    """What `Optimizer.build_update` returns: the new parameters' nodes, and for each state
    entry (key as in state_dict) the input node that reads it and the node of its new value."""

    def __init__(self, optimizer: "Optimizer"):
        self.optimizer = optimizer
        self.prefix = type(optimizer).__name__.lower()
        self.lr = make("input", (), name=f"{self.prefix}_lr", shape=(),
                       dtype=optimizer.dtype)
        self.new_params: list[Node] = []
        self.state_inputs: "OrderedDict[str, Node]" = OrderedDict()
        self.state_outputs: "OrderedDict[str, Node]" = OrderedDict()
        self.shared: dict[str, Node] = {}  # nodes all parameters' updates use (Adam's t)

    def read(self, key: str, label: str) -> Node:
        """The graph input holding state entry `key` (named `<optimizer>_<label>`)."""
        if key not in self.state_inputs:
            a = self.optimizer.state[key]
            self.state_inputs[key] = make("input", (), name=f"{self.prefix}_{label}",
                                          shape=as_shape(a.shape), dtype=a.dtype.name)
        return self.state_inputs[key]

    def write(self, key: str, value: Node) -> None:
        self.state_outputs[key] = value

    @staticmethod
    def scalar(value: Node, param: Node) -> Node:
        """A scalar node (lr, a bias correction) in `param`'s dtype, to combine with it."""
        return dsl.astype(value, param.dtype)


class Optimizer(DeviceHeld):
    """Base class. Subclasses list their per-parameter state (`slots`) and shared scalar
    state (`scalars`), their constant hyperparameters (`hyperparameters`), and write
    `update(graph, index, param, grad)` -> the new parameter, from graph ops."""

    slots: tuple = ()
    scalars: tuple = ()
    hyperparameters: tuple = ()

    def __init__(self, params, lr: float):
        if isinstance(params, Module):
            raise TypeError(f"{type(self).__name__}: pass model.parameters(), not the model")
        if isinstance(params, Parameter):
            params = [params]
        unique, seen = [], set()
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__}: expected gc.nn.Parameter objects, "
                                f"got {type(p).__name__}")
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        if not unique:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not lr >= 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr!r}")
        self.params: list[Parameter] = unique
        # the widest parameter dtype: the learning rate's (see the module docstring)
        self.dtype = np.result_type(*(p.value.dtype for p in unique)).name
        self.lr = float(lr)
        self._state: "OrderedDict[str, np.ndarray]" = OrderedDict()
        for name in self.scalars:
            self.state[name] = np.zeros((), SCALAR_DTYPE)
        for slot in self.slots:
            for i, p in enumerate(self.params):
                self.state[f"{slot}.{i}"] = np.zeros(p.shape, p.value.dtype)

    # ---- the update as graph nodes ---------------------------------------------------------
    def build_update(self, params: list[Node], grads: list[Node]) -> UpdateGraph:
        graph = UpdateGraph(self)
        self.begin(graph)
        for i, (p, g) in enumerate(zip(params, grads)):
            graph.new_params.append(self.update(graph, i, p, g))
        return graph

    def begin(self, graph: UpdateGraph) -> None:
        """Shared work before the per-parameter updates (Adam's step count)."""

    def update(self, graph: UpdateGraph, index: int, param: Node, grad: Node) -> Node:
        raise NotImplementedError

    def slot_label(self, slot: str, index: int) -> str:
        """A readable graph input name for a state slot: 'exp_avg_fc1_weight'."""
        return f"{slot}_{self.params[index].node.name}"

    # ---- state -----------------------------------------------------------------------------
    @property
    def state(self) -> "OrderedDict[str, np.ndarray]":
        """The state arrays by key ("step", "exp_avg.0", ...), updated in place by training
        (brought back first from the device where a "cuda" train step keeps them)."""
        self.sync()
        return self._state

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of the state arrays ("step", "exp_avg.0", ...: slot.parameter index, as
        torch numbers parameters) and the hyperparameters as 0-d arrays ("lr", ...)."""
        out = OrderedDict((k, v.copy()) for k, v in self.state.items())
        out["lr"] = np.array(self.lr)
        for h in self.hyperparameters:
            out[h] = np.array(getattr(self, h), dtype=np.float64)
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore state and the learning rate; everything is checked first. Wrong or missing
        names, wrong shapes, and constant hyperparameters that differ from this optimizer's
        (they are compiled into the step) are a ValueError naming the entry."""
        who = f"{type(self).__name__}.load_state_dict"
        expected = list(self.state) + ["lr", *self.hyperparameters]
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            raise ValueError(f"{who}: " + "; ".join(
                part for part in (f"missing entries {missing}" if missing else "",
                                  f"unexpected entries {unexpected}" if unexpected else "")
                if part) + f" (this optimizer has {len(self.params)} parameter(s) and "
                f"entries {expected})")
        for k, v in self.state.items():
            a = np.asarray(state[k])
            if a.shape != v.shape:
                raise ValueError(f"{who}: entry {k!r} has shape {a.shape}, expected {v.shape}")
            # checked here, not left to np.copyto below: that would fail halfway through
            if a.dtype.kind not in "fiu":
                raise ValueError(f"{who}: entry {k!r} has dtype {a.dtype}, expected numbers")
        for h in ("lr", *self.hyperparameters):
            a = np.asarray(state[h])
            if a.shape != () or a.dtype.kind not in "fiub":
                raise ValueError(f"{who}: entry {h!r} must be a number, got {a.dtype} of "
                                 f"shape {a.shape}")
        for h in self.hyperparameters:
            mine, theirs = float(getattr(self, h)), float(np.asarray(state[h]))
            if not np.isclose(mine, theirs, rtol=1e-12, atol=0):
                raise ValueError(f"{who}: entry {h!r} is {theirs} in the state but {mine} in "
                                 f"this optimizer; construct it with {h}={theirs}")
        for k, v in self.state.items():
            np.copyto(v, np.asarray(state[k]), casting="unsafe")
        self.lr = float(np.asarray(state["lr"]))

    def __repr__(self):
        hp = ", ".join(f"{h}={getattr(self, h)}" for h in ("lr",) + self.hyperparameters)
        return f"{type(self).__name__}({len(self.params)} parameters, {hp})"
