"""Adam (Kingma & Ba), as torch.optim.Adam: bias-corrected moment estimates."""
from __future__ import annotations

from .. import dsl
from ..ir.node import Node
from .optimizer import Optimizer, UpdateGraph


class Adam(Optimizer):
    """torch.optim.Adam's update (amsgrad off). Per step, t = t + 1; per parameter p with
    gradient g:

        g = g + weight_decay * p                  (if weight_decay: L2, not AdamW)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    State entries: "step" (t, shared), "exp_avg.<i>" (m) and "exp_avg_sq.<i>" (v), all
    starting at 0; the step count is state too, so bias correction survives a checkpoint.
    """

    slots = ("exp_avg", "exp_avg_sq")
    scalars = ("step",)
    hyperparameters = ("beta1", "beta2", "eps", "weight_decay")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"Adam: eps ({eps}) and weight_decay ({weight_decay}) must be >= 0")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        super().__init__(params, lr)

    @property
    def betas(self) -> tuple:
        return (self.beta1, self.beta2)

    def begin(self, graph: UpdateGraph) -> None:
        t = graph.read("step", "step") + 1.0
        graph.write("step", t)
        graph.shared["step_size"] = graph.lr / (1.0 - dsl.pow(self.beta1, t))
        graph.shared["sqrt_bias2"] = dsl.sqrt(1.0 - dsl.pow(self.beta2, t))

    def update(self, graph: UpdateGraph, index: int, param: Node, grad: Node) -> Node:
        g = grad
        if self.weight_decay:
            g = g + self.weight_decay * param
        m_key, v_key = f"exp_avg.{index}", f"exp_avg_sq.{index}"
        m = self.beta1 * graph.read(m_key, self.slot_label("exp_avg", index)) \
            + (1.0 - self.beta1) * g
        v = self.beta2 * graph.read(v_key, self.slot_label("exp_avg_sq", index)) \
            + (1.0 - self.beta2) * (g * g)
        graph.write(m_key, m)
        graph.write(v_key, v)
        denom = dsl.sqrt(v) / graph.scalar(graph.shared["sqrt_bias2"], param) + self.eps
        return param - graph.scalar(graph.shared["step_size"], param) * m / denom
