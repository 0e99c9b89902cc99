"""gc.train_step: forward, loss, gradients and the optimizer update compiled into one graph.

The PyTorch loop and its graphc equivalent, side by side:

    # PyTorch                                  # graphc
    opt = torch.optim.SGD(net.parameters(),    opt = gc.optim.SGD(net.parameters(), lr=0.01)
                          lr=0.01)             loss = criterion(net(x), y)    # x, y: gc.tensor
                                               step = gc.train_step(loss, opt)  # compiled once
    for x_b, y_b in batches:                   for x_b, y_b in batches:
        loss = criterion(net(x_b), y_b)
        opt.zero_grad()                            loss = step(x=x_b, y=y_b)  # all four lines
        loss.backward()
        opt.step()

In PyTorch the graph is rebuilt by every forward call and gradients accumulate in `.grad`
(hence zero_grad). Here the forward graph is built once, symbolically; gc.grad derives the
backward graph from it; the optimizer's update rule is graph nodes too; and the whole step
is compiled once and run per batch, so there is no gradient buffer to clear.
"""
from __future__ import annotations

import numpy as np

from .collector import paused
from .errors import InputTypeError, ShapeError
from .grad import grad
from .ir.graph import graph_inputs
from .ir.node import Node
from .ir.shapes import fmt_shape
from .nn.layers import is_seed
from .nn.module import generator, parameter_of
from .ops.common import is_float
from .optim.optimizer import Optimizer


class TrainStep:
    """One compiled training step; see gc.train_step. Attributes for inspection: `loss`,
    `grads` (the backward graph's outputs, one per parameter), `update` (the optimizer's
    UpdateGraph), `compiled` (the gc.compile result: .graph, .raw_graph, .cost()),
    `batch_inputs` (the names step() takes)."""

    @paused()  # the gradients and the compile: collector.py
    def __init__(self, loss: Node, optimizer: Optimizer, backend: str | None = None,
                 **compile_options):
        if not isinstance(loss, Node):
            raise TypeError(f"train_step: loss must be a graphc tensor, got "
                            f"{type(loss).__name__}")
        if loss.ndim != 0 or not is_float(loss.dtype):
            raise ShapeError(f"train_step: loss must be a float scalar, got shape "
                             f"{fmt_shape(loss.shape)} {loss.dtype}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"train_step: optimizer must be a gc.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        self.loss, self.optimizer = loss, optimizer
        self.params = optimizer.params
        nodes = [p.node for p in self.params]
        used = {id(n) for n in graph_inputs([loss])}
        unused = [p.name for p, n in zip(self.params, nodes) if id(n) not in used]
        if len(unused) == len(nodes):
            raise ValueError(f"train_step: the loss depends on none of the optimizer's "
                             f"parameters {[p.name for p in self.params]}")
        self.unused_parameters = unused  # updated by weight decay only (as in torch: g = 0)
        self.grads = grad(loss, nodes)
        self.update = optimizer.build_update(nodes, self.grads)
        state = list(self.update.state_outputs)
        outputs = [loss, *self.update.new_params, *(self.update.state_outputs[k] for k in state)]

        fixed = {id(n) for n in nodes} | {id(self.update.lr)} | \
            {id(n) for n in self.update.state_inputs.values()}
        batch, frozen, seeds = [], [], []
        for n in graph_inputs(outputs):
            if id(n) in fixed:
                continue
            (seeds if is_seed(n) else frozen if parameter_of(n) is not None
             else batch).append(n)
        inputs = batch + frozen + nodes + [self.update.lr] + \
            [self.update.state_inputs[k] for k in self.update.state_inputs] + seeds
        from .compile import compile
        # new parameters and state may be written straight into the arrays they replace
        donate = {1 + k: n.name for k, n in enumerate(nodes)}
        donate.update({1 + len(nodes) + j: self.update.state_inputs[key].name
                       for j, key in enumerate(state)})
        self.compiled = compile(outputs, inputs=inputs, backend=backend, donate=donate,
                                **compile_options)
        self.batch_inputs = [n.name for n in batch]
        # Parameters and state are fed as the very arrays training updates in place.
        self._feeds = {n.name: parameter_of(n).value for n in frozen}
        self._feeds.update({n.name: p.value for n, p in zip(nodes, self.params)})
        self._feeds.update({self.update.state_inputs[k].name: optimizer.state[k]
                            for k in self.update.state_inputs})
        self._lr_name = self.update.lr.name
        self._state_keys = state
        # dropout masks: a new seed per step, from a base drawn off gc.nn's generator (so
        # gc.nn.manual_seed makes a training run reproducible)
        self.seeds = SeedFeeder([n.name for n in seeds])
        self._frozen = [parameter_of(n) for n in frozen]
        self._device = self._keep_on_device(nodes, state, donate)

    def __call__(self, *args, **batch) -> float:
        """Run one step on a batch (arrays by input name); returns the loss before the
        update, and updates the parameters and the optimizer state in place."""
        if args:
            raise InputTypeError(f"train step: pass the batch by name: step("
                                 f"{', '.join(f'{n}=...' for n in self.batch_inputs)})")
        for name in batch:
            if name not in self.batch_inputs:
                what = "is a parameter or optimizer state, fed automatically" \
                    if name in self._feeds else "is not an input of the loss"
                raise InputTypeError(f"train step: {name!r} {what}; the batch inputs are "
                                     f"{self.batch_inputs}")
        missing = [n for n in self.batch_inputs if n not in batch]
        if missing:
            raise InputTypeError(f"train step: missing batch input(s) {missing}")
        lr = np.asarray(self.optimizer.lr, self.update.lr.dtype)
        batch = {**batch, **self.seeds.next()}  # a dropout seed is fed as the batch is
        if self._device is not None:
            return self._step_on_device(batch, lr)
        for owner in [*self._frozen, *self.params, self.optimizer]:
            owner.sync()  # the newest values, if a "cuda" train step kept them
        results = self.compiled(**batch, **self._feeds, **{self._lr_name: lr})
        loss, rest = results[0], results[1:]
        for p, new in zip(self.params, rest):
            if new is not p.value:  # a backend that wrote it in place handed back the array
                np.copyto(p.value, new, casting="same_kind")
        for key, new in zip(self._state_keys, rest[len(self.params):]):
            if new is not self.optimizer.state[key]:
                np.copyto(self.optimizer.state[key], new, casting="same_kind")
        return float(loss)

    def _keep_on_device(self, nodes, state, donate):
        """For a backend that keeps values between calls (backend "cuda": `impl.resident`),
        the parameters and optimizer state stay in its memory, each input replaced by the
        output donated to it after every step; None for the others. Each owner (a Parameter,
        the optimizer) gets a `pull` that copies its values back when the host reads them."""
        make = getattr(self.compiled.impl, "resident", None)
        resident = make({name: index for index, name in donate.items()}) if make else None
        if resident is None:
            return None

        def puller(names):
            return lambda: [resident.download(n, self._feeds[n]) for n in names]
        owners = [(p, [n.name]) for n, p in zip(nodes, self.params)]
        owners.append((self.optimizer, [self.update.state_inputs[k].name for k in state]))
        return resident, [(owner, names, puller(names)) for owner, names in owners]

    def _step_on_device(self, batch, lr) -> float:
        resident, owners = self._device
        for owner in self._frozen:
            owner.sync()
        for owner, names, pull in owners:
            if not owner.held_by(pull):  # the host (or another step) has the newest value
                owner.sync()
                for n in names:
                    resident.upload(n, self._feeds[n])
        arrays, dims = self.compiled.spec.bind((), {**batch, **self._feeds, self._lr_name: lr})
        loss = resident(arrays, dims)[0]
        for owner, _, pull in owners:
            owner.hold(pull)
        return float(loss)

    @property
    def graph(self):
        """The compiled (optimized) graph of the whole step."""
        return self.compiled.graph

    def __repr__(self):
        return (f"<graphc.TrainStep batch={self.batch_inputs} parameters={len(self.params)} "
                f"optimizer={type(self.optimizer).__name__} backend={self.compiled.backend} "
                f"nodes={len(self.compiled.graph)}>")


class SeedFeeder:
    """Fresh int64 seeds for the dropout seed inputs of a compiled graph, one per call:
    base, base + 1, ... (random_uniform hashes the seed, so consecutive seeds give
    independent masks)."""

    def __init__(self, names):
        self.names = list(names)
        self.base = int(generator().integers(0, 2 ** 62)) if self.names else 0
        self.count = 0

    def next(self) -> dict:
        if not self.names:
            return {}
        seed = np.asarray(self.base + self.count, dtype=np.int64)
        self.count += 1
        return {name: seed for name in self.names}


def train_step(loss: Node, optimizer: Optimizer, backend: str | None = None,
               **compile_options) -> TrainStep:
    """Compile forward + loss + gc.grad + the optimizer's update into ONE graph, once, and
    return `step(**batch) -> float`: it feeds the batch plus the current parameter and
    optimizer-state values, writes the new ones back in place (np.copyto into the Parameter
    arrays), and returns the loss. One call is PyTorch's zero_grad(); loss.backward();
    opt.step() (see this module's docstring for the loops side by side).

    `compile_options` go to gc.compile (passes=, opt_level=, ...). Parameters the loss uses
    that are not in the optimizer stay fixed (fed, not updated). With backend="cuda" the
    parameters and optimizer state stay in device memory between steps: only the loss is
    copied back each step, and a value when the host reads it (`p.value`, state_dict, gc.save).

    >>> import graphc as gc, numpy as np
    >>> gc.nn.manual_seed(0); model = gc.nn.Linear(3, 1)
    >>> x, y = gc.tensor("x", ("B", 3)), gc.tensor("y", ("B", 1))
    >>> step = gc.train_step(gc.mse_loss(model(x), y), gc.optim.SGD(model.parameters(), lr=0.1))
    >>> X = np.ones((8, 3), np.float32); first = step(x=X, y=X[:, :1])
    >>> step(x=X, y=X[:, :1]) < first
    True
    """
    return TrainStep(loss, optimizer, backend=backend, **compile_options)
