"""Modules and parameters, in PyTorch's idiom, over graph nodes.

A `Parameter` is a named graph input plus its current value (a float32 NumPy array that
training updates in place). A `Module` registers parameters and submodules by attribute
assignment, as torch.nn.Module does; calling it builds graph nodes (nothing is computed).

Initial values are drawn from gc.nn's own generator: `gc.nn.manual_seed(0)` before building a
model makes its initialization reproducible (as `torch.manual_seed`).
"""
from __future__ import annotations

import contextvars
import re
import weakref
from collections import OrderedDict

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node, building, make
from ..ir.tensor_ops import TensorOps
from ..ir.shapes import as_shape, fmt_shape

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator every gc.nn initializer draws from (as torch.manual_seed)."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The generator initializers draw from (see manual_seed)."""
    return _generator


# Graph input names of live parameters. Names must be unique within a graph, and two
# stand-alone Linear layers would both call theirs "weight": the second gets "weight_1".
_LIVE: "weakref.WeakValueDictionary[str, Parameter]" = weakref.WeakValueDictionary()


def _node_name(qualified: str) -> str:
    """'layers.0.weight' -> 'layers_0_weight': graph input names are Python identifiers."""
    base = re.sub(r"\W", "_", qualified)
    return base if base.isidentifier() else "param_" + base


class DeviceHeld:
    """What a train step may keep in device memory between steps (a Parameter's value, an
    optimizer's state; gc.train_step with backend="cuda"). While `_pull` is set the newest
    value is there: the first read on the host calls `sync()`, which copies it back, and the
    host's copy is the newest again (the step uploads it before its next run)."""

    _pull = None

    def sync(self) -> None:
        """Bring the newest value back from a train step's device memory (if it is there)."""
        pull, self._pull = self._pull, None
        if pull is not None:
            pull()

    def held_by(self, pull) -> bool:
        return self._pull is pull

    def hold(self, pull) -> None:
        """The newest value is now where `pull()` copies it back from."""
        self._pull = pull


class Parameter(TensorOps, DeviceHeld):
    """A trainable array: `value` (float32 NumPy, updated in place by training) and `node`,
    the graph input that stands for it in every graph built from the module.

    The node is made on first use, named after the parameter's place in the module that was
    called (`fc1.weight` -> input `fc1_weight`). A Parameter works where a tensor does: in
    expressions (`x @ self.weight + self.bias`, `self.weight.T`) and in
    `gc.grad(loss, model.parameters())`; `p.node` is the graph input itself.
    """

    def __init__(self, value, name: str | None = None, dtype: str = "float32"):
        a = np.asarray(value)
        if a.dtype.kind != "f" or np.dtype(dtype).kind != "f":
            raise TypeError(f"Parameter: values must be floating point, got dtype {a.dtype}"
                            f" (requested {dtype})")
        self._value = np.array(a, dtype=dtype, order="C", copy=True)
        self._hint = name
        self._node: "weakref.ref[Node] | None" = None
        self._graph_name: str | None = None

    @property
    def value(self) -> np.ndarray:
        self.sync()
        return self._value

    @value.setter
    def value(self, new) -> None:
        """Assigning copies into the existing array (graphs and optimizers keep pointing at it)."""
        new = np.asarray(new)
        if new.shape != self._value.shape:
            raise ShapeError(f"Parameter {self.name!r}: cannot assign a value of shape "
                             f"{new.shape} to a parameter of shape {self._value.shape}")
        np.copyto(self._value, new, casting="same_kind")
        self._pull = None  # this value is the newest, wherever a train step kept one

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return self._value.dtype.name

    @property
    def name(self) -> str | None:
        """The graph input's name once the node exists, else the local attribute name."""
        return self._graph_name or self._hint

    @property
    def node(self) -> Node:
        node = self._node() if self._node is not None else None
        if node is None:
            node = self._make_node(self._hint or "param")
        return node

    def _make_node(self, qualified: str) -> Node:
        node = self._node() if self._node is not None else None
        if node is not None:
            return node
        if self._graph_name is None:
            base = name = _node_name(qualified)
            k = 0
            while _LIVE.get(name) is not None:
                k += 1
                name = f"{base}_{k}"
            _LIVE[name] = self
            self._graph_name = name
        # The node holds its Parameter (a graph keeps the values it trains alive even when
        # the module that built it is gone); the Parameter holds its node weakly, so there is
        # no cycle and a parameter's name is free again as soon as nothing uses it.
        node = make("input", (), name=self._graph_name, shape=as_shape(self.shape),
                    dtype=self.dtype, parameter=self)
        self._node = weakref.ref(node)
        return node

    def __graphc_node__(self) -> Node:
        return self.node

    def __deepcopy__(self, memo):
        """A copy gets its own value and, on first use, its own graph input."""
        return Parameter(self.value, name=self._hint, dtype=self.dtype)

    def __repr__(self):
        return f"Parameter({self.name or '?'}, shape={self.shape}, {self.dtype})"


def parameter_of(node: Node) -> Parameter | None:
    """The Parameter whose graph input `node` is, or None (a data input)."""
    if not isinstance(node, Node) or node.op != "input":
        return None
    return node.attrs.get("parameter")


# While a module is called: id(module) -> its dotted name ("blocks.0.attn") in the outermost
# module being called (as its named_modules() names them); None outside every call.
_module_names = contextvars.ContextVar("graphc_module_names", default=None)


class Module:
    """Base class of layers and models, as torch.nn.Module.

        class MLP(gc.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = gc.nn.Linear(64, 128)   # registered as "fc1"
                self.fc2 = gc.nn.Linear(128, 10)
            def forward(self, x):
                return self.fc2(gc.relu(self.fc1(x)))

    Assigning a Parameter, a Module, or a list of Modules to an attribute registers it.
    Calling the module builds graph nodes; the outermost call names the parameters after
    their place in it (`fc1.weight`). `train()` and `eval()` set `training` on the module
    and its submodules, as in torch; it decides what a call builds (gc.nn.Dropout builds
    its mask only in training), so build the graph after choosing the mode.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def train(self, mode: bool = True) -> "Module":
        """Set training mode (True) or evaluation mode (False) here and in every submodule;
        returns the module."""
        for _, m in self.named_modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Evaluation mode: `train(False)`."""
        return self.train(False)

    # ---- registration --------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"assigning attributes")
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, Module)
                                                               for v in value):
            value = ModuleList(value)
        for table in (self._parameters, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            if value._hint is None:
                value._hint = name
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # only reached when normal lookup fails: parameters and submodules live in tables
        for table in ("_parameters", "_modules"):
            d = self.__dict__.get(table)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    # ---- traversal -----------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module and every submodule, each once."""
        seen = set()

        def walk(m, pre):
            if id(m) in seen:
                return
            seen.add(id(m))
            yield pre, m
            for n, child in m._modules.items():
                yield from walk(child, f"{pre}.{n}" if pre else n)
        yield from walk(self, prefix)

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self, prefix: str = ""):
        """(dotted name, Parameter) pairs, each parameter once (shared ones under their first
        name), in registration order, as torch's named_parameters."""
        seen = set()
        for mname, m in self.named_modules(prefix):
            for pname, p in m._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return int(sum(p.value.size for p in self.parameters()))

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """{dotted name: a copy of the parameter's value}."""
        return OrderedDict((n, p.value.copy()) for n, p in self.named_parameters())

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy values into the parameters. Everything is checked before anything is copied:
        missing or unexpected names (when strict) and wrong shapes are a ValueError naming
        the entries, and the parameters are left untouched."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        unexpected = [n for n in state if n not in params]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing entries {missing}")
            if unexpected:
                parts.append(f"unexpected entries {unexpected}")
            raise ValueError(f"load_state_dict ({type(self).__name__}): " + "; ".join(parts)
                             + f". The model's parameters are {list(params)}")
        for n, v in state.items():
            if n not in params:
                continue
            a = np.asarray(v)
            if a.shape != params[n].shape:
                raise ValueError(f"load_state_dict ({type(self).__name__}): entry {n!r} has "
                                 f"shape {a.shape}, but the parameter has shape "
                                 f"{params[n].shape}")
            if a.dtype.kind not in "fiu":
                raise ValueError(f"load_state_dict ({type(self).__name__}): entry {n!r} has "
                                 f"dtype {a.dtype}, expected floating point values")
        for n, v in state.items():
            if n in params:
                np.copyto(params[n].value, np.asarray(v), casting="unsafe")

    # ---- building --------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        names = _module_names.get()
        token = None
        if names is None:  # the outermost call names the modules and the parameters
            names = {id(m): name for name, m in self.named_modules()}
            for name, p in self.named_parameters():
                with building(scope=name.rpartition(".")[0]):  # the module that owns it
                    p._make_node(name)
            token = _module_names.set(names)
        try:
            # every node built inside carries the module's name, so drawings can group a
            # large model by module; a module outside the tree (made inside a forward)
            # builds in the scope of its caller
            with building(scope=names.get(id(self))):
                return self.forward(*args, **kwargs)
        finally:
            if token is not None:
                _module_names.reset(token)

    # ---- printing --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for n, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({n}): {child}")
        return "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules, registered as "0", "1", ... (plain lists assigned to an attribute
    become one)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(module).__name__}")
        self._modules[str(len(self._modules))] = module
        return self

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return type(self)(mods[i]) if isinstance(i, slice) else mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList is a container; call its modules one by one")


class Sequential(ModuleList):
    """Modules applied in order: Sequential(Linear(64, 128), ReLU(), Linear(128, 10)).
    Registered as "0", "1", ..., so the first weight is "0.weight" (as in torch)."""

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = modules[0]
        super().__init__(modules)

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


def check_input(layer: str, x, min_rank: int = 1, last: int | None = None):
    """A layer's input must be a graph tensor of at least `min_rank` with the right last axis."""
    if isinstance(x, Parameter):
        x = x.node
    if not isinstance(x, Node):
        raise TypeError(f"{layer}: expected a graphc tensor, got {type(x).__name__}")
    if x.ndim < min_rank:
        raise ShapeError(f"{layer}: expected an input of rank >= {min_rank}, got shape "
                         f"{fmt_shape(x.shape)}")
    if last is not None and x.shape[-1] != last:
        raise ShapeError(f"{layer}: the input's last axis must be {last}, got shape "
                         f"{fmt_shape(x.shape)}")
    return x
