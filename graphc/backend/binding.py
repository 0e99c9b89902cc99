"""Checking the arrays a compiled function is called with, and binding the symbolic dims.

Every backend calls `bind` first, so bad input gets the same clear error everywhere: a
gc.InputError that names the input (and, for a dim clash, both inputs) and never reaches a
kernel. A lossy conversion (float64 narrowed to float32, values overflowing to inf) is a
gc.InputWarning, once per compiled function: a training loop would otherwise say it per step.
"""
from __future__ import annotations

import warnings

import numpy as np
import sympy

from ..errors import InputError, InputTypeError, InputWarning
from ..ir.graph import topo_order
from ..ir.node import Node
from ..ir.op import is_layout
from ..ir.shapes import fmt_shape
from ..ops import call_checks
from ..ops.common import concrete


class InputSpec:
    """The inputs of a compiled graph: their order for positional calls, names, shapes."""

    def __init__(self, inputs: list[Node], outputs, upcast: bool = False):
        names = [i.name for i in inputs]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            name = sorted(dup)[0]
            same = len({id(i) for i in inputs if i.name == name}) == 1
            raise ValueError(f"compile: input {name!r} is listed twice in `inputs`" if same else
                             f"compile: two different inputs are both named {name!r}")
        self.inputs = list(inputs)
        self.upcast = upcast  # float inputs kept in float64 (gc.check_grad's finite differences)
        self.by_name = {i.name: i for i in inputs}
        # labels fed into one_hot (cross_entropy) get their range checked, also through
        # reshapes and transposes (labels (B, 1) flattened), which move but keep the values
        self.label_depths = {}
        nodes = topo_order(outputs)
        for n in nodes:
            if n.op == "one_hot":
                source = n.inputs[0]
                while is_layout(source):
                    source = source.inputs[0]
                if source.op == "input":
                    self.label_depths.setdefault(source.name, []).append(n.shape[-1])
        _check_dims_are_bound(self.inputs, nodes)
        # index ranges of gathers fed by an input, slice boxes with symbolic bounds
        self.checks = call_checks(nodes)
        self.warned: set[str] = set()  # the kinds of lossy conversion already warned about
        # shapes with an entry computed from dims (reshape(-1, 4) of (B, 6) is (3*B/2, 4)):
        # each must come out whole for the dims of a call
        self.derived_shapes = {}
        for n in nodes:
            if any(not (isinstance(d, sympy.Symbol) or d.is_number) for d in n.shape):
                self.derived_shapes.setdefault(tuple(n.shape), n.op)

    def bind(self, args, kwargs) -> tuple[dict, dict]:
        """-> ({input name: checked array}, {dim symbol: size})."""
        if len(args) > len(self.inputs):
            raise InputTypeError(f"expected at most {len(self.inputs)} positional inputs "
                                 f"({', '.join(self.by_name)}), got {len(args)}")
        given = dict(zip((i.name for i in self.inputs), args))
        for name, value in kwargs.items():
            if name not in self.by_name:
                raise InputTypeError(f"unknown input {name!r}; the inputs are: "
                                     f"{', '.join(self.by_name) or 'none'}. The compiled "
                                     f"outputs read no input of that name (to pass it "
                                     f"anyway, name it in gc.compile(..., inputs=[...]))")
            if name in given:
                raise InputTypeError(f"input {name!r} is given both positionally and by "
                                     f"name")
            given[name] = value
        missing = [n for n in self.by_name if n not in given]
        if missing:
            raise InputTypeError(f"missing input(s) {', '.join(map(repr, missing))}; "
                                 f"the inputs are: {', '.join(self.by_name)}")
        arrays, dims, bound_by = {}, {}, {}
        for node in self.inputs:
            a = _as_array(node, given[node.name], self.upcast, self.warned)
            _bind_dims(node, a, dims, bound_by)
            arrays[node.name] = a
        for node in self.inputs:
            _check_derived_dims(node, arrays[node.name], dims)
        for check in self.checks:
            check(arrays, dims, bound_by)
        for shape, op in self.derived_shapes.items():
            _check_whole_sizes(op, shape, dims, bound_by)
        for name, depths in self.label_depths.items():
            for depth in depths:
                _check_labels(name, arrays[name], int(depth.subs(dims)))
        return arrays, dims


def _check_dims_are_bound(inputs, nodes):
    """Every symbolic dim of the graph must be the whole size of some input axis, or no call
    could size it (e.g. the zero gradient of a (B, 3) tensor compiled without that tensor)."""
    bound = {d for i in inputs for d in i.shape if isinstance(d, sympy.Symbol)}
    for n in nodes:
        free = set().union(*[getattr(d, "free_symbols", set()) for d in n.shape]) - bound
        if free:
            names = ", ".join(i.name for i in inputs) or "none"
            raise ValueError(f"compile: dim {', '.join(sorted(map(str, free)))} (in the shape "
                             f"{fmt_shape(n.shape)} of a {n.op} node) is not the size of an axis "
                             f"of any input (the inputs are: {names}); pass `inputs=` with a "
                             f"tensor that has it")


def _as_array(node: Node, value, upcast: bool = False, warned: set | None = None) -> np.ndarray:
    """The value as a C-contiguous array of the input's dtype. `warned` holds the kinds of lossy
    conversion already reported by this compiled function (None: do not check for loss)."""
    name, want = node.name, np.dtype(node.dtype)
    if upcast and want.kind == "f":
        want = np.dtype(np.float64)
    try:
        a = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise InputTypeError(f"input {name!r}: cannot be read as an array ({e})") from None
    kind = a.dtype.kind
    if kind not in "fiub":
        raise InputTypeError(f"input {name!r}: expected a numeric array of dtype {want}, got "
                             f"dtype {a.dtype}")
    if want.kind in "iu" and kind == "f":
        raise InputTypeError(f"input {name!r}: expected integers ({want}), got floats "
                             f"({a.dtype})")
    if want.kind in "iu" and kind in "iu" and a.size:
        info = np.iinfo(want)
        if a.min() < info.min or a.max() > info.max:
            raise InputError(f"input {name!r}: values do not fit in {want}")
    if a.ndim != node.ndim:
        raise InputError(f"input {name!r}: expected rank {node.ndim} with shape "
                         f"{fmt_shape(node.shape)}, got rank {a.ndim} with shape {a.shape}")
    # a copy in the declared dtype: the caller's array is never touched, and kernels get
    # contiguous memory whatever strides came in (np.array, not np.ascontiguousarray, which
    # would turn a 0-d input into shape (1,))
    if a.dtype == want and a.flags.c_contiguous:
        return a
    with np.errstate(over="ignore"):  # an overflow is reported below, naming the input
        cast = np.array(a, dtype=want, order="C")
    if warned is not None and want.kind == "f" and a.dtype.itemsize > want.itemsize:
        _warn_of_loss(name, a, cast, warned)
    return cast


def _warn_of_loss(name: str, a: np.ndarray, cast: np.ndarray, warned: set) -> None:
    """float64 -> float32 keeps about 7 digits, and values beyond float32's range become inf.
    Each kind is said once per compiled function: a training loop would say it every step."""
    notes = []
    if "narrowed" not in warned and a.dtype.kind == "f":
        notes.append(("narrowed", f"input {name!r}: {a.dtype} values were narrowed to "
                                  f"{cast.dtype}, the input's dtype; pass {cast.dtype} arrays "
                                  f"(x.astype(np.{cast.dtype})) or declare the input with "
                                  f"dtype='{a.dtype}'"))
    if "overflow" not in warned and a.size:
        overflowed = np.isinf(cast) & np.isfinite(a)
        if overflowed.any():
            big = float(np.abs(a[overflowed]).max())
            notes.append(("overflow", f"input {name!r}: values such as {big:.3g} overflowed to "
                                      f"inf when cast to {cast.dtype} (whose largest value is "
                                      f"{float(np.finfo(cast.dtype).max):.3g})"))
    for kind, message in notes:
        warned.add(kind)
        # stacklevel 5: here <- _as_array <- bind <- the compiled function <- the caller
        warnings.warn(message + " (said once per compiled function)", InputWarning,
                      stacklevel=5)


def _bind_dims(node, a, dims, bound_by):
    for axis, (d, size) in enumerate(zip(node.shape, a.shape)):
        if isinstance(d, sympy.Symbol):
            if d in dims and dims[d] != size:
                other = bound_by[d]
                raise InputError(f"input {node.name!r}: axis {axis} has size {size}, but input "
                                 f"{other!r} set dim {d} = {dims[d]} (expected shape "
                                 f"{fmt_shape(node.shape)}, got {a.shape})")
            dims.setdefault(d, size)
            bound_by.setdefault(d, node.name)
        elif d.is_number and int(d) != size:
            raise InputError(f"input {node.name!r}: expected shape {fmt_shape(node.shape)}, "
                             f"got {a.shape} (axis {axis} should be {d})")


def _check_derived_dims(node, a, dims):
    """Axes sized by an expression (2*B) are checked once every input has bound its dims."""
    for axis, (d, size) in enumerate(zip(node.shape, a.shape)):
        if isinstance(d, sympy.Symbol) or d.is_number:
            continue
        v = d.subs(dims)  # every symbol is bound: _check_dims_are_bound saw to it
        if int(v) != size:
            raise InputError(f"input {node.name!r}: expected shape {fmt_shape(node.shape)}, "
                             f"got {a.shape} (axis {axis} should be {d} = {int(v)})")


def _check_whole_sizes(op, shape, dims, bound_by):
    try:
        concrete(shape, dims)
    except ValueError:
        free = sorted(set().union(*[getattr(d, "free_symbols", set()) for d in shape]), key=str)
        given = ", ".join(f"{d} = {dims[d]} (from input {bound_by[d]!r})" for d in free)
        raise InputError(f"{op}: shape {fmt_shape(shape)} has a size that is not a whole number "
                         f"for {given}") from None


def _check_labels(name, a, depth):
    if a.size and (a.min() < 0 or a.max() >= depth):
        bad = a.min() if a.min() < 0 else a.max()
        raise InputError(f"input {name!r}: class label {int(bad)} is out of range "
                         f"[0, {depth}) for cross_entropy / one_hot")
