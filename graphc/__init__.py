"""graphc: a symbolic computation-graph compiler for deep learning.

    import graphc as gc
    x = gc.tensor("x", ("B", 784)); W = gc.tensor("W", (784, 10)); b = gc.tensor("b", (10,))
    y = gc.tensor("y", ("B",), dtype="int64")
    loss = gc.cross_entropy(x @ W + b, y)
    gW, gb = gc.grad(loss, [W, b])
    f = gc.compile([loss, gW, gb])
"""
from . import ops as _ops  # noqa: F401  (registers every op)
from .errors import InputError, InputWarning, ShapeError
from .ir.node import Node as Tensor
from .ir.graph import Graph
from .dsl import (
    tensor, constant, apply, elementwise,
    add, sub, mul, div, pow, neg, exp, log, sqrt, tanh, sigmoid, relu, gelu, astype,
    reshape, transpose, broadcast_to,
    sum, mean, max, logsumexp, softmax, log_softmax,
    matmul, einsum,
    mse_loss, cross_entropy, one_hot,
)
from .grad import grad, check_grad
from .viz import to_dot, render
from .compile import compile, BACKENDS
from .cost import compare as cost
from .passes.explain import explain
from .passes.pipeline import PIPELINE
from . import nn, optim
from .train import train_step
from .checkpoint import save, load

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Graph", "ShapeError", "InputError", "InputWarning", "tensor", "constant", "apply", "elementwise",
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu",
    "gelu", "astype", "reshape", "transpose", "broadcast_to", "sum", "mean", "max",
    "logsumexp", "softmax", "log_softmax", "matmul", "einsum", "mse_loss", "cross_entropy",
    "one_hot", "grad", "check_grad", "to_dot", "render", "compile", "BACKENDS",
    "cost", "explain", "PIPELINE",
    "nn", "optim", "train_step", "save", "load",
]
