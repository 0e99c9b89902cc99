"""gc.nn: modules and parameters in PyTorch's idiom; calling a module builds graph nodes.

    import graphc as gc
    gc.nn.manual_seed(0)
    model = gc.nn.Sequential(gc.nn.Linear(64, 128), gc.nn.ReLU(), gc.nn.Linear(128, 10))
    x = gc.tensor("x", ("B", 64)); y = gc.tensor("y", ("B",), dtype="int64")
    loss = gc.nn.CrossEntropyLoss()(model(x), y)
    step = gc.train_step(loss, gc.optim.Adam(model.parameters(), lr=1e-3))
"""
from .module import (Module, ModuleList, Parameter, Sequential, generator, manual_seed,
                     parameter_of)
from .layers import (GELU, AvgPool2d, Conv2d, CrossEntropyLoss, Dropout, Embedding, Flatten,
                     LayerNorm, Linear, MaxPool2d, MSELoss, ReLU, Sigmoid, Tanh, dropout_seed)
from .attention import MultiHeadSelfAttention, TransformerBlock, causal_mask
from .function import Function, function

__all__ = [
    "Module", "ModuleList", "Parameter", "Sequential", "generator", "manual_seed",
    "parameter_of", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout",
    "dropout_seed", "ReLU", "Tanh", "Sigmoid", "GELU", "LayerNorm", "Embedding",
    "MSELoss", "CrossEntropyLoss", "MultiHeadSelfAttention", "TransformerBlock",
    "causal_mask", "Function", "function",
]
