"""Lowering of gathers, their scatter-add adjoints, and the ops that compute from positions:
arange and random_uniform.

take, take_along_axis, scatter_add and scatter_add_along_axis are one GatherKernel each (a
scatter after a kernel writing zeros), whose index moves one access along the indexed axis.
Where the indices are known to be in range before any kernel runs, the kernel reads them as
they are: indices fed from an input are checked when a call binds its inputs (a
gc.InputError naming the input, graphc/ops/gather.py `call_checks`), a constant's are checked
here, and argmax's and arange's positions are in range by construction when their axis is no
longer than the indexed one (`take(table, argmax(scores))` with as many rows as scores has
columns). Any other indices computed in the graph are checked by the kernel itself as it
reads each one: an index out of range makes the call fail with the reference's IndexError,
never a read or write out of bounds (graphc/backend/numba/index_kernels.py, and the cuda
printer's fault flag). arange is an ArangeKernel, random_uniform a RandomKernel.

Each rule is `rule(lowering, node) -> View` (graphc/lower/lowering.py holds the table).
"""
from __future__ import annotations

import sympy

from ..ir.op import is_layout
from ..ops.gather import call_checks
from .program import ArangeKernel, GatherKernel, RandomKernel, identity, provenance
from .views import ZERO, Access, View, align


def _in_range(node) -> bool:
    """The node's indices are in range before any kernel reads them."""
    if call_checks(node):
        return True
    source = node.inputs[1]
    while is_layout(source):  # views keep (a subset of) the values
        source = source.inputs[0]
    outer = node.inputs[0] if node.op.startswith("take") else node
    n = outer.shape[node.attrs["axis"]]
    if source.op == "constant" and n.is_number:
        idx = source.attrs["value"].array
        return idx.size == 0 or (idx.min() >= -int(n) and idx.max() < int(n))
    count = (source.inputs[0].shape[source.attrs["axis"]] if source.op == "argmax" else
             source.shape[0] if source.op == "arange" else None)
    return count is not None and _at_most(count, n)  # positions 0 .. count - 1


def _at_most(a, b) -> bool:
    """a <= b for every size the dims can be bound to, 0 included (sympy proves it, or it is
    not known)."""
    gap = sympy.sympify(b - a)
    sizes = {d: sympy.Symbol(f"{d}_size", integer=True, nonnegative=True)
             for d in gap.free_symbols}
    return bool(gap.subs(sizes).is_nonnegative)


def _emit(lw, node, domain, index: Access, data: Access, out: Access, axis_stride, axis_size,
          scatter: bool) -> None:
    """The node's GatherKernel; where its indices are not known to be in range, the kernel
    checks each (a decision gc.explain shows)."""
    in_range = _in_range(node)
    name = lw.kernel_name(node)
    lw.emit(GatherKernel(name, provenance(node), domain, index, data, out, axis_stride,
                         axis_size, scatter, in_range))
    if not in_range:
        lw.decisions.append(f"{name}: {node.op} checks each index as it reads it (indices "
                            f"computed in the graph, not known to be in range)")


def _spread(view: View, axis: int, width: int) -> Access:
    """`view` over a domain where its axis `axis` becomes `width` axes it does not move along
    (the index's axes, in a take): stride 0 there."""
    return Access(view.buffer, view.strides[:axis] + (ZERO,) * width + view.strides[axis + 1:],
                  view.offset)


def _index_of_take(view: View, axis: int, rank: int) -> Access:
    """A take's index (its own axes) over a domain of `rank` axes starting at `axis`."""
    after = rank - axis - view.ndim
    return Access(view.buffer, (ZERO,) * axis + view.strides + (ZERO,) * after, view.offset)


def _along(access: Access, axis: int) -> Access:
    """`access` with stride 0 along `axis` (the index moves it there instead)."""
    strides = tuple(ZERO if k == axis else s for k, s in enumerate(access.strides))
    return Access(access.buffer, strides, access.offset)


def _take(lw, node):
    a, idx = node.inputs
    axis, domain = node.attrs["axis"], tuple(node.shape)
    data, out = lw.view_of(a), lw.result(node)
    _emit(lw, node, domain, _index_of_take(lw.view_of(idx), axis, len(domain)),
          _spread(data, axis, idx.ndim), align(out, domain), data.strides[axis],
          a.shape[axis], False)
    return out


def _take_along_axis(lw, node):
    a, idx = node.inputs
    axis, domain = node.attrs["axis"], tuple(node.shape)
    data, out = lw.view_of(a), lw.result(node)
    _emit(lw, node, domain, align(lw.view_of(idx), domain), _along(align(data, domain), axis),
          align(out, domain), data.strides[axis], a.shape[axis], False)
    return out


def _scatter(lw, node, out_access):
    """zeros, then the values added at their indices (`out_access(out, domain)`: where the
    value at each domain index goes before the index moves it)."""
    g, idx = node.inputs
    axis, domain = node.attrs["axis"], tuple(g.shape)
    out = lw.result(node)
    lw.write(out, (lw.zeros(node.shape, node.dtype),), identity(node.dtype), (node.op,))
    index = _index_of_take(lw.view_of(idx), axis, len(domain)) if node.op == "scatter_add" \
        else align(lw.view_of(idx), domain)
    _emit(lw, node, domain, index, align(lw.view_of(g), domain), out_access(out, domain),
          out.strides[axis], node.shape[axis], True)
    return out


def _scatter_add(lw, node):
    width = node.inputs[1].ndim
    return _scatter(lw, node, lambda out, domain: _spread(out, node.attrs["axis"], width))


def _scatter_add_along_axis(lw, node):
    return _scatter(lw, node, lambda out, domain: _along(
        Access(out.buffer, out.strides, out.offset), node.attrs["axis"]))


def _arange(lw, node):
    out = lw.result(node)
    lw.emit(ArangeKernel(lw.kernel_name(node), provenance(node), tuple(node.shape),
                         align(out, node.shape)))
    return out


def _random_uniform(lw, node):
    out = lw.result(node)
    domain = tuple(node.shape)
    seed = lw.view_of(node.inputs[0])
    lw.emit(RandomKernel(lw.kernel_name(node), provenance(node), domain,
                         Access(seed.buffer, (), seed.offset), node.attrs["stream"],
                         align(out, domain)))
    return out


RULES = {"take": _take, "take_along_axis": _take_along_axis, "scatter_add": _scatter_add,
         "scatter_add_along_axis": _scatter_add_along_axis, "arange": _arange,
         "random_uniform": _random_uniform}
