"""graphc: a symbolic computation-graph compiler for deep learning.

    import graphc as gc
    x = gc.tensor("x", ("B", 784)); W = gc.tensor("W", (784, 10)); b = gc.tensor("b", (10,))
    y = gc.tensor("y", ("B",), dtype="int64")
    loss = gc.cross_entropy(x @ W + b, y)
    gW, gb = gc.grad(loss, [W, b])
    f = gc.compile([loss, gW, gb])

The op table and the DSL load with the package; the rest (nn, optim, passes, drawing,
cost, the CLI) loads on first use, so `import graphc` stays fast.
"""
from .collector import paused as _paused
from .lazy import lazy_attributes as _lazy_attributes

# Python's collector, paused while the package loads: importing sympy and the op table builds
# long-lived objects only, and the collections that looked at them took 25-40 ms of the import
# (collector.py; what was built goes straight to the oldest generation at the end)
with _paused():
    from . import ops as _ops
    from . import dsl as _dsl
    from .errors import InputError, InputWarning, ShapeError
    from .ir.node import Node as Tensor
    from .ir.graph import Graph
    from .ir import tensor_ops as _tensor_ops
    from .dsl import (
        tensor, constant, apply, elementwise,
        add, sub, mul, div, pow, neg, exp, log, sqrt, tanh, sigmoid, relu, gelu, astype,
        reshape, transpose, broadcast_to, stop_gradient, where,
        sum, mean, max, logsumexp, softmax, log_softmax,
        matmul, einsum,
        mse_loss, cross_entropy, one_hot,
        greater, greater_equal, less, less_equal, equal, not_equal,
        maximum, minimum, abs, clip, min, argmax,
        concat, stack, split, take, take_along_axis, arange, tril, triu,
        conv2d, max_pool2d, avg_pool2d, dropout,
    )

    _ops.install()  # every op declared in graphc/ops, into the op table
    _tensor_ops.use_builder(_dsl)  # x + y on tensors builds with the DSL

    # Functions named like their own submodules (graphc.grad, graphc.compile, graphc.cost) are
    # bound after importing those, so the function, not the module, is what gc.grad names.
    from .grad import grad, check_grad
    from .compile import compile, BACKENDS, available_backends
    from .cost import compare as cost

from ._version import __version__  # noqa: E402,F401

# name -> (module, attribute): loaded when first asked for
_LAZY = {
    "to_dot": ("graphc.viz", "to_dot"), "render": ("graphc.viz", "render"),
    "explain": ("graphc.passes.explain", "explain"),
    "PIPELINE": ("graphc.passes.pipeline", "PIPELINE"),
    "nn": ("graphc.nn", None), "optim": ("graphc.optim", None),
    "train_step": ("graphc.train", "train_step"),
    "save": ("graphc.checkpoint", "save"), "load": ("graphc.checkpoint", "load"),
}
__getattr__, __dir__ = _lazy_attributes(globals(), _LAZY)


__all__ = [
    "Tensor", "Graph", "ShapeError", "InputError", "InputWarning", "tensor", "constant", "apply", "elementwise",
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu",
    "gelu", "astype", "reshape", "transpose", "broadcast_to", "stop_gradient", "where",
    "sum", "mean", "max", "logsumexp", "softmax", "log_softmax", "matmul", "einsum",
    "mse_loss", "cross_entropy", "one_hot",
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
    "maximum", "minimum", "abs", "clip", "min", "argmax",
    "concat", "stack", "split", "take", "take_along_axis", "arange", "tril", "triu",
    "conv2d", "max_pool2d", "avg_pool2d", "dropout", "grad", "check_grad", "compile", "BACKENDS",
    "available_backends", "cost", *_LAZY,
]
