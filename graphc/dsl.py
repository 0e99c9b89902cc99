"""The user-facing builder: tensors, NumPy-style functions, einsum, losses.

Every function builds graph nodes (nothing is computed) and checks shapes as it builds, so
a mismatch fails on the line that made it, naming the op and both shapes.
"""
from __future__ import annotations

import inspect
import numbers

import numpy as np
import sympy

from .errors import ShapeError
from .ir.body import Lit
from .ir.node import Const, Node, make
from .ir.scalar import ScalarFn, param_symbols
from .ir.terms import free_symbols, said
from .ir.shapes import as_shape, dim, dims_equal, fmt_shape, normalize_axes, numel, shape_entries
from .ops import elementwise as ew
from .ops.elementwise import apply_fn
from .ops.common import FLOAT_DTYPES, INT_DTYPES, is_float
from .ops.contract import parse_einsum

Tensor = Node  # what users hold: a node of the graph


# ---- sources -------------------------------------------------------------------------------
def tensor(name: str, shape=(), dtype: str = "float32") -> Tensor:
    """A symbolic input. Shape entries are ints or names of symbolic dims.

    >>> x = tensor("x", ("B", 784)); x.shape
    (B, 784)
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"tensor: the name must be a Python identifier, got {name!r}")
    dtype = _dtype("tensor", dtype)
    return make("input", (), name=name, shape=as_shape(shape), dtype=dtype)


def constant(value, dtype: str | None = None) -> Tensor:
    """A constant array (Python floats become float32 unless `dtype` says otherwise)."""
    a = _as_array("constant", value)
    if dtype is None:
        dtype = "float32" if a.dtype.kind == "f" else "int64" if a.dtype.kind in "iub" else None
    if dtype is None:
        raise TypeError(f"constant: cannot hold values of dtype {a.dtype}")
    return make("constant", (), value=Const(a.astype(_dtype("constant", dtype))))


def _as_array(op, value) -> np.ndarray:
    try:
        return np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise TypeError(f"{op}: cannot read {type(value).__name__} as an array ({e})") from None


def _dtype(op, dtype) -> str:
    # np.dtype(None) is float64, a surprise in a float32-by-default library
    if dtype is None:
        raise TypeError(f"{op}: dtype must be given, got None")
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: unknown dtype {dtype!r}") from None
    # the dtypes every backend handles (float128 is a float, but not one Numba knows)
    if d.name not in FLOAT_DTYPES + INT_DTYPES:
        raise TypeError(f"{op}: dtype must be a float or integer type "
                        f"({', '.join(FLOAT_DTYPES + INT_DTYPES)}), got {d.name}")
    return d.name


def _operand(op: str, v) -> Tensor:
    if isinstance(v, Node):
        return v
    if hasattr(v, "__graphc_node__"):  # a gc.nn.Parameter stands for its graph input
        return v.__graphc_node__()
    if isinstance(v, (np.ndarray, list, tuple)):
        a = _as_array(op, v)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{op}: cannot use an array of dtype {a.dtype} as an operand")
        return constant(a, dtype=a.dtype.name if a.dtype.kind == "f" else None)
    if isinstance(v, numbers.Number) and not isinstance(v, complex):
        return constant(v)
    raise TypeError(f"{op}: expected a graphc tensor, an array or a number, got "
                    f"{type(v).__name__}")


def _is_scalar(v) -> bool:
    if isinstance(v, sympy.Expr):  # a size such as the B of a mean over the batch
        return True
    return (isinstance(v, numbers.Real) and not isinstance(v, Node)) or (
        isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "fiub")


def _literal(v, op: str = "literal") -> Lit:
    """A Python number (or a NumPy scalar, or a size in dims) as a weak literal operand."""
    if isinstance(v, sympy.Expr):
        _check_symbols(op, v)  # a size in symbolic dims, or a number
        return Lit(v)
    return Lit(v.item() if isinstance(v, np.generic | np.ndarray) else v)


def _python_number(v):
    """A sympy number (a mean's element count) as a Python number; anything else as given."""
    if isinstance(v, sympy.Expr) and v.is_number:
        return int(v) if v.is_Integer else float(v)
    return v


def _check_symbols(op, expr, params=()):
    """A body may mention its parameters and symbolic dims (a mean's x / B), nothing else: no
    call could ever bind another symbol."""
    def is_dim(s):
        return s.name.isidentifier() and s == dim(s.name)
    stray = sorted(str(s) for s in free_symbols(expr) - set(params) if not is_dim(s))
    if stray:
        raise ValueError(f"{op}: the expression {said(expr)} mentions {', '.join(stray)}, which is "
                         f"neither a parameter nor a symbolic dim (a tensor's shape entry)")


# ---- elementwise ---------------------------------------------------------------------------
def apply(fn: ScalarFn, *operands) -> Tensor:
    """Apply an elementwise op. Python numbers become literals of its statement, so
    `2.0 * x` is one node whose body reads `x0 * 2.0` (and keeps x's dtype)."""
    if len(operands) != fn.arity:
        raise TypeError(f"{fn.name}: takes {fn.arity} operand(s), got {len(operands)}")
    if all(_is_scalar(o) for o in operands):  # gc.exp(2.0): a constant to apply it to
        operands = (_operand(fn.name, _python_number(operands[0])),) + operands[1:]
    args = [_literal(o, fn.name) if _is_scalar(o) else _operand(fn.name, o) for o in operands]
    return apply_fn(fn, args)


def add(a, b) -> Tensor:
    return apply(ew.ADD, a, b)


def sub(a, b) -> Tensor:
    return apply(ew.SUB, a, b)


def mul(a, b) -> Tensor:
    return apply(ew.MUL, a, b)


def div(a, b) -> Tensor:
    return apply(ew.DIV, a, b)


def pow(a, b) -> Tensor:  # noqa: A001 (NumPy's name)
    return apply(ew.POW, a, b)


def neg(a) -> Tensor:
    return apply(ew.NEG, a)


def exp(a) -> Tensor:
    return apply(ew.EXP, a)


def log(a) -> Tensor:
    return apply(ew.LOG, a)


def sqrt(a) -> Tensor:
    return apply(ew.SQRT, a)


def tanh(a) -> Tensor:
    return apply(ew.TANH, a)


def sigmoid(a) -> Tensor:
    return apply(ew.SIGMOID, a)


def relu(a) -> Tensor:
    return apply(ew.RELU, a)


def gelu(a) -> Tensor:
    """The exact (erf) GELU, as torch.nn.functional.gelu."""
    return apply(ew.GELU, a)


def astype(a, dtype: str) -> Tensor:
    """The tensor converted to `dtype` (gradients flow through float casts)."""
    a = _operand("astype", a)
    dtype = _dtype("astype", dtype)
    if a.dtype == dtype:
        return a
    return apply_fn(ew.CAST, [a], dtype=dtype)


def elementwise(fn, name: str | None = None):
    """A new elementwise op from a function of sympy symbols; its derivative comes from sympy.

    >>> import sympy
    >>> gelu = elementwise(lambda x: x / 2 * (1 + sympy.erf(x / sympy.sqrt(2))), "gelu")
    >>> y = gelu(tensor("x", (3,)))
    """
    n = len(inspect.signature(fn).parameters)
    if n == 0:
        raise ValueError("elementwise: the function must take at least one parameter")
    params = param_symbols(n)
    try:
        expr = sympy.sympify(fn(*params))
    except TypeError as e:  # np.exp(symbol) and the like fail with a message about ufunc loops
        raise TypeError(f"elementwise: the function must build a sympy expression from its "
                        f"sympy symbol arguments (sympy.exp, not np.exp); calling it failed: "
                        f"{e}") from e
    if not isinstance(expr, sympy.Expr):
        raise TypeError(f"elementwise: the function must return a sympy expression, got {expr!r}")
    name = name or getattr(fn, "__name__", "custom")
    body = ScalarFn("custom" if name == "<lambda>" else name, params, expr)
    _check_symbols(body.name, expr, params)

    def op(*operands):
        if len(operands) != n:
            raise TypeError(f"{body.name}: takes {n} operand(s), got {len(operands)}")
        return apply(body, *operands)
    op.fn = body
    op.__name__ = body.name
    op.__doc__ = f"Elementwise {body}"
    return op


# ---- layout --------------------------------------------------------------------------------
def reshape(a, shape) -> Tensor:
    """Row-major reshape; one entry may be -1."""
    a = _operand("reshape", a)
    shape = shape_entries(shape)
    # NumPy integers are sizes too (reshape(np.int64(-1), 3)), so the -1 test sees them
    shape = tuple(int(d) if isinstance(d, numbers.Integral) and not isinstance(d, bool) else d
                  for d in shape)
    if [d for d in shape if isinstance(d, int)].count(-1) > 1:
        raise ShapeError(f"reshape: only one -1 is allowed, got {shape}")
    known = as_shape([d for d in shape if not (isinstance(d, int) and d == -1)])
    if len(known) < len(shape):
        rest = sympy.simplify(numel(a.shape) / numel(known))
        if rest.is_number and not rest.is_integer:
            raise ShapeError(f"reshape: cannot reshape {fmt_shape(a.shape)} to {shape}: "
                             f"{numel(a.shape)} elements do not split into {numel(known)}")
        it = iter(known)
        new = tuple(rest if isinstance(d, int) and d == -1 else next(it) for d in shape)
    else:
        new = known
    if len(new) == a.ndim and all(dims_equal(p, q) for p, q in zip(new, a.shape)):
        return a
    return make("reshape", (a,), shape=new)


def transpose(a, axes=None) -> Tensor:
    """Permute axes (reversed when `axes` is None), as np.transpose."""
    a = _operand("transpose", a)
    if axes is None:
        perm = tuple(reversed(range(a.ndim)))
    else:
        axes = tuple(axes)
        # int() would turn axis 1.5 into 1 and 'a' into a bare "invalid literal" message
        if not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in axes):
            raise ShapeError(f"transpose: axes must be ints, got {axes!r}")
        perm = tuple(int(p) % a.ndim if -a.ndim <= p < a.ndim else int(p) for p in axes)
    if perm == tuple(range(a.ndim)):
        return a
    return make("transpose", (a,), perm=perm)


def broadcast_to(a, shape) -> Tensor:
    a = _operand("broadcast_to", a)
    shape = as_shape(shape)
    if len(shape) == a.ndim and all(dims_equal(p, q) for p, q in zip(shape, a.shape)):
        return a
    return make("broadcast_to", (a,), shape=shape)


# ---- reductions ----------------------------------------------------------------------------
def _reduce(op, a, axis, keepdims):
    a = _operand(op, a)
    axes = normalize_axes(op, axis, a.ndim)
    return make(op, (a,), axes=axes, keepdims=bool(keepdims))


def sum(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001 (NumPy's name)
    return _reduce("sum", a, axis, keepdims)


def max(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001 (NumPy's name)
    return _reduce("max", a, axis, keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001 (NumPy's name)
    """The minimum over axes (ties share the gradient equally, as torch.amin)."""
    return _reduce("min", x, axis, keepdims)


def argmax(x, axis=-1) -> Tensor:
    """The index (int64) of the first maximum along `axis`, as np.argmax; no gradient."""
    x = _operand("argmax", x)
    (axis,) = normalize_axes("argmax", axis, x.ndim)
    return make("argmax", (x,), axis=axis)


def logsumexp(a, axis=None, keepdims=False) -> Tensor:
    """log(sum(exp(a))) over axes, computed stably (no overflow for logits of 1000)."""
    return _reduce("logsumexp", a, axis, keepdims)


def mean(a, axis=None, keepdims=False) -> Tensor:
    """The sum over the axes divided by their element count: nan over no elements, as in
    NumPy and torch (0 / 0)."""
    a = _operand("mean", a)
    axes = normalize_axes("mean", axis, a.ndim)
    count = numel([a.shape[k] for k in axes])
    if not is_float(a.dtype):
        # integers are summed in float64, as NumPy's mean does: their int64 sum wraps (the
        # mean of [5, 2**63 - 1] was negative), then given in graphc's float32
        return astype(div(sum(astype(a, "float64"), axes, keepdims), count), "float32")
    total = sum(a, axes, keepdims)
    # over one element a float mean is its sum
    return total if count == 1 else div(total, count)


def softmax(a, axis=-1) -> Tensor:
    """exp(z - max) / sum(exp(z - max)) along `axis`: rows sum to 1 for logits of any size,
    -inf logits get probability 0, and a row of -inf is nan (as in torch)."""
    return _normalize("softmax", a, axis)


def log_softmax(a, axis=-1) -> Tensor:
    """(z - max) - log(sum(exp(z - max))) along `axis`: no cancellation of large numbers."""
    return _normalize("log_softmax", a, axis)


def _normalize(op, a, axis) -> Tensor:
    a = _operand(op, a)
    (axis,) = normalize_axes(op, axis, a.ndim)
    if not is_float(a.dtype):
        a = astype(a, "float32")
    return make(op, (a,), axis=axis)


def stop_gradient(a) -> Tensor:
    """The same values, but gradients do not flow through (as jax.lax.stop_gradient)."""
    return make("stop_gradient", (_operand("stop_gradient", a),))


def where(cond, a, b) -> Tensor:
    """a where cond is true, else b (NumPy's where; the three broadcast together). Gradients
    flow to the branch that was taken."""
    cond = _operand("where", cond)
    if cond.dtype != "bool":
        raise TypeError(f"where: the condition must be a bool tensor (a comparison), got "
                        f"{cond.dtype} of shape {fmt_shape(cond.shape)}")
    # the branches are the node's first inputs: a compiled function orders its inputs by
    # first use, and cross_entropy(logits, labels) should take the logits first
    args = [cond] + [_literal(v, "where") if _is_scalar(v) else _operand("where", v)
                     for v in (a, b)]
    return apply_fn(ew.WHERE, args, inputs_first=(1, 2))


# ---- contractions --------------------------------------------------------------------------
def matmul(a, b) -> Tensor:
    """np.matmul: batched, batch dims broadcast, 1-D operands lifted and dropped again."""
    a, b = _operand("matmul", a), _operand("matmul", b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have rank >= 1, got {fmt_shape(a.shape)} and "
                         f"{fmt_shape(b.shape)}")
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if not dims_equal(a.shape[-1], k_b):
        raise ShapeError(f"matmul: shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} do not "
                         f"fit: contracted dims {a.shape[-1]} and {k_b} differ")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    out = make("matmul", (a2, b2))
    if a.ndim == 1 or b.ndim == 1:
        drop = {out.ndim - 2} if a.ndim == 1 else set()
        drop |= {out.ndim - 1} if b.ndim == 1 else set()
        out = reshape(out, tuple(d for k, d in enumerate(out.shape) if k not in drop))
    return out


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, as np.einsum: `einsum("bik,bkj->bij", A, B)`."""
    ops = [_operand("einsum", o) for o in operands]
    try:
        terms, out = parse_einsum(equation, [o.ndim for o in ops])
    except ShapeError as e:  # the parser sees ranks only; the user wants the shapes too
        shapes = " and ".join(fmt_shape(o.shape) for o in ops)
        raise ShapeError(f"{e}; shapes {shapes}") from None
    return make("einsum", ops, terms=tuple(terms), out=out)


# Comparisons and the min/max family, losses, indexing, joining, gathering, convolution and
# dropout live in their own modules; they are the DSL's too (x[1:] calls dsl.getitem, x > 0
# dsl.greater).
from .compare import (comparable, greater, greater_equal, less, less_equal,  # noqa: E402
                      equal, not_equal, maximum, minimum, abs, clip)
from .losses import mse_loss, one_hot, cross_entropy  # noqa: E402
from .indexing import (getitem, concat, stack, split, take, take_along_axis,  # noqa: E402
                       arange, tril, triu)
from .functional import conv2d, max_pool2d, avg_pool2d, dropout  # noqa: E402
