"""Python operators on graph nodes (`x @ W + b`, `2.0 * x`, `x.T`, `x.sum(0)`, `x[:, 1:]`,
`x > 0`).

Each delegates to the builder functions of the DSL, so a node built with an operator is the
same as one built with the function. The IR imports nothing above it: `import graphc` hands
it the builder with `use_builder(graphc.dsl)`.

Comparisons build bool tensors, `==` and `!=` included (as NumPy's arrays and torch's
tensors do). So inside graphc nodes are never compared with `==` or looked up with `in`:
identity (`a is b`, `id(a)` sets) is how code asks whether two nodes are the same node.
Hashing stays identity-based (`__hash__ = object.__hash__`), so nodes remain dict keys.
"""
from __future__ import annotations

_builder = None


def use_builder(module) -> None:
    """The module whose functions (add, matmul, sum, ...) the operators call."""
    global _builder
    _builder = module


def _dsl():
    if _builder is None:
        raise RuntimeError("graphc tensors have no operators until `import graphc`")
    return _builder


def _compare(name, a, b):
    dsl = _dsl()
    if not dsl.comparable(b):
        return NotImplemented
    return getattr(dsl, name)(a, b)


# NumPy ufuncs that are Python operators, and the graphc builder each one means
# (`ndarray > node` reaches NumPy first, as np.greater).
_OPERATOR_UFUNCS = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div",
                    "divide": "div", "power": "pow", "matmul": "matmul", "negative": "neg",
                    "greater": "greater", "greater_equal": "greater_equal", "less": "less",
                    "less_equal": "less_equal", "equal": "equal", "not_equal": "not_equal"}


class TensorOps:
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """`ndarray * node` reaches NumPy first, which hands it here as np.multiply: build the
        graph op. Any other ufunc (np.exp(x)) gets told the graphc function to use instead."""
        builder = _OPERATOR_UFUNCS.get(ufunc.__name__)
        if builder is not None and method == "__call__" and not kwargs:
            return getattr(_dsl(), builder)(*inputs)
        name = ufunc.__name__
        if builder is not None:  # out=, where=, np.add.reduce: an array cannot hold a node
            hint = "write the operator itself (a = a - x), with no out= or in-place update"
        elif hasattr(_dsl(), name):
            hint = f"use gc.{name}(x)"
        else:
            hint = f"graphc has no {name}; build it with gc.elementwise(lambda x: ...) from sympy"
        raise TypeError(f"np.{name} cannot be applied to a graphc tensor: a tensor is a "
                        f"symbolic graph node, not an array; {hint}")

    def __add__(self, other):
        return _dsl().add(self, other)

    def __radd__(self, other):
        return _dsl().add(other, self)

    def __sub__(self, other):
        return _dsl().sub(self, other)

    def __rsub__(self, other):
        return _dsl().sub(other, self)

    def __mul__(self, other):
        return _dsl().mul(self, other)

    def __rmul__(self, other):
        return _dsl().mul(other, self)

    def __truediv__(self, other):
        return _dsl().div(self, other)

    def __rtruediv__(self, other):
        return _dsl().div(other, self)

    def __pow__(self, other):
        return _dsl().pow(self, other)

    def __rpow__(self, other):
        return _dsl().pow(other, self)

    def __matmul__(self, other):
        return _dsl().matmul(self, other)

    def __rmatmul__(self, other):
        return _dsl().matmul(other, self)

    def __neg__(self):
        return _dsl().neg(self)

    # comparisons give bool tensors; an operand that is no tensor, array or number (None, a
    # string) is not comparable, and Python falls back to identity (`x == None` is False)
    def __gt__(self, other):
        return _compare("greater", self, other)

    def __ge__(self, other):
        return _compare("greater_equal", self, other)

    def __lt__(self, other):
        return _compare("less", self, other)

    def __le__(self, other):
        return _compare("less_equal", self, other)

    def __eq__(self, other):
        return _compare("equal", self, other)

    def __ne__(self, other):
        return _compare("not_equal", self, other)

    # defining __eq__ would otherwise make nodes unhashable; identity is their hash
    __hash__ = object.__hash__

    def __abs__(self):
        return _dsl().abs(self)

    def __getitem__(self, index):
        """NumPy basic indexing: ints, slices (steps too), None, Ellipsis, and tuples."""
        return _dsl().getitem(self, index)

    def __pos__(self):
        return self

    @property
    def T(self):
        """The reversed axes, as numpy's `.T`."""
        return _dsl().transpose(self)

    def sum(self, axis=None, keepdims=False):
        return _dsl().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _dsl().mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _dsl().max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _dsl().min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=-1):
        return _dsl().argmax(self, axis=axis)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _dsl().reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _dsl().transpose(self, axes or None)

    def __bool__(self):
        raise TypeError("a graphc tensor is symbolic and has no truth value; "
                        "compile the graph and inspect the result instead")

    def __len__(self):
        raise TypeError("a graphc tensor has a symbolic shape; use .shape[0]")

    def __iter__(self):
        raise TypeError("a graphc tensor is not iterable")

    def __float__(self):
        raise TypeError("a graphc tensor has no value until it is compiled and called: "
                        "gc.compile(t)(...) returns arrays")

    __int__ = __complex__ = __index__ = __float__
