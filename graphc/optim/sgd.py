"""Stochastic gradient descent with momentum and weight decay, as torch.optim.SGD."""
from __future__ import annotations

from ..ir.node import Node
from .optimizer import Optimizer, UpdateGraph


class SGD(Optimizer):
    """torch.optim.SGD's update (dampening 0), one step for each parameter p with gradient g:

        g = g + weight_decay * p                  (if weight_decay)
        b = momentum * b + g; g = b               (if momentum; b starts at 0, so the
                                                   first step has b = g, as torch's)
        g = g + momentum * b                      (instead, if nesterov)
        p = p - lr * g

    Every line is graph nodes; the momentum buffers are state entries "momentum_buffer.<i>".
    """

    hyperparameters = ("momentum", "weight_decay", "nesterov")

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: momentum ({momentum}) and weight_decay ({weight_decay}) "
                             f"must be >= 0")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov momentum needs momentum > 0")
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.nesterov = bool(nesterov)
        self.slots = ("momentum_buffer",) if momentum else ()
        super().__init__(params, lr)

    def update(self, graph: UpdateGraph, index: int, param: Node, grad: Node) -> Node:
        g = grad
        if self.weight_decay:
            g = g + self.weight_decay * param
        if self.momentum:
            key = f"momentum_buffer.{index}"
            buf = self.momentum * graph.read(key, self.slot_label("momentum_buffer", index)) + g
            graph.write(key, buf)
            g = g + self.momentum * buf if self.nesterov else buf
        return param - graph.scalar(graph.lr, param) * g
