"""gc.nn.function: compile a model's graph for inference, with the parameters fed for you."""
from __future__ import annotations

from ..errors import InputTypeError
from ..ir.node import Node
from .layers import is_seed
from .module import parameter_of


class Function:
    """A compiled graph whose parameter inputs are fed from their Parameters' current values
    at every call, so it always runs the latest (e.g. just trained) weights. Call it with the
    data inputs only; `.compiled` is the underlying gc.compile result."""

    def __init__(self, outputs, backend: str | None = None, **compile_options):
        from ..compile import compile
        self.compiled = compile(outputs, backend=backend, **compile_options)
        nodes = self.compiled.spec.inputs
        self.parameters = {n.name: parameter_of(n) for n in nodes if parameter_of(n) is not None}
        from ..train import SeedFeeder
        self.seeds = SeedFeeder([n.name for n in nodes if is_seed(n)])
        self.input_names = [n.name for n in nodes if n.name not in self.parameters
                            and n.name not in self.seeds.names]

    def __call__(self, *args, **inputs):
        if len(args) > len(self.input_names):
            raise InputTypeError(f"expected at most {len(self.input_names)} positional "
                                 f"inputs ({', '.join(self.input_names)}), got {len(args)}")
        given = dict(zip(self.input_names, args))
        for name, value in inputs.items():
            if name in self.parameters:
                raise InputTypeError(f"input {name!r} is a parameter, fed from the model; "
                                     f"pass only data inputs ({', '.join(self.input_names)})")
            if name in given:
                raise InputTypeError(f"input {name!r} is given both positionally and by "
                                     f"name")
            given[name] = value
        given.update({name: p.value for name, p in self.parameters.items()})
        given.update(self.seeds.next())  # a model built in training mode: a new dropout mask
        return self.compiled(**given)

    def __repr__(self):
        return (f"<graphc.nn.Function inputs={self.input_names} "
                f"parameters={len(self.parameters)} backend={self.compiled.backend}>")


def function(outputs, backend: str | None = None, **compile_options) -> Function:
    """Compile `outputs` (a tensor or a list of them) built from modules into a callable
    that takes only the data inputs; the parameters' current values are fed automatically.

    >>> import graphc as gc, numpy as np
    >>> gc.nn.manual_seed(0); model = gc.nn.Linear(3, 2)
    >>> x = gc.tensor("x", ("B", 3)); predict = gc.nn.function(model(x))
    >>> predict(x=np.ones((4, 3), np.float32)).shape
    (4, 2)
    """
    if not isinstance(outputs, Node) and not all(isinstance(o, Node) for o in outputs):
        raise TypeError("gc.nn.function: outputs must be graphc tensors (what calling a model "
                        "returns)")
    return Function(outputs, backend=backend, **compile_options)
