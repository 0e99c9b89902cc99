"""Lowering of gathers, their scatter-add adjoints and arange.

take, take_along_axis, scatter_add and scatter_add_along_axis are one GatherKernel each (a
scatter after a kernel writing zeros), whose index moves one access along the indexed axis.
Native kernels never raise, so an index runs natively only where its range is known good
before any kernel runs: indices fed from an input are checked when a call binds its inputs
(a gc.InputError naming the input, graphc/ops/gather.py `call_checks`), and a constant's
are checked here. Indices computed in the graph run the op's NumPy reference, which checks
them as it goes. arange is an ArangeKernel.

Each rule is `rule(lowering, node) -> View` (graphc/lower/lowering.py holds the table).
"""
from __future__ import annotations


from ..ir.op import is_layout
from ..ops.gather import call_checks
from .program import ArangeKernel, GatherKernel, identity, provenance
from .views import ZERO, Access, View, align


def _checked(node) -> bool:
    """The node's indices are in range before any kernel reads them."""
    if call_checks(node):
        return True
    source = node.inputs[1]
    while is_layout(source):
        source = source.inputs[0]
    outer = node.inputs[0] if node.op.startswith("take") else node
    n = outer.shape[node.attrs["axis"]]
    if source.op != "constant" or not n.is_number:
        return False
    idx = source.attrs["value"].array
    return idx.size == 0 or (idx.min() >= -int(n) and idx.max() < int(n))


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
    if not _checked(node):
        return lw.reference(node)
    a, idx = node.inputs
    axis, domain = node.attrs["axis"], tuple(node.shape)
    data, out = lw.view_of(a), lw.result(node)
    lw.emit(GatherKernel(lw.kernel_name(node), provenance(node), domain,
                         _index_of_take(lw.view_of(idx), axis, len(domain)),
                         _spread(data, axis, idx.ndim), align(out, domain),
                         data.strides[axis], a.shape[axis], False))
    return out


def _take_along_axis(lw, node):
    if not _checked(node):
        return lw.reference(node)
    a, idx = node.inputs
    axis, domain = node.attrs["axis"], tuple(node.shape)
    data, out = lw.view_of(a), lw.result(node)
    lw.emit(GatherKernel(lw.kernel_name(node), provenance(node), domain,
                         align(lw.view_of(idx), domain), _along(align(data, domain), axis),
                         align(out, domain), data.strides[axis], a.shape[axis], False))
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
    lw.emit(GatherKernel(lw.kernel_name(node), provenance(node), domain, index,
                         align(lw.view_of(g), domain), out_access(out, domain),
                         out.strides[axis], node.shape[axis], True))
    return out


def _scatter_add(lw, node):
    if not _checked(node):
        return lw.reference(node)
    width = node.inputs[1].ndim
    return _scatter(lw, node, lambda out, domain: _spread(out, node.attrs["axis"], width))


def _scatter_add_along_axis(lw, node):
    if not _checked(node):
        return lw.reference(node)
    return _scatter(lw, node, lambda out, domain: _along(
        Access(out.buffer, out.strides, out.offset), node.attrs["axis"]))


def _arange(lw, node):
    out = lw.result(node)
    lw.emit(ArangeKernel(lw.kernel_name(node), provenance(node), tuple(node.shape),
                         align(out, node.shape)))
    return out


RULES = {"take": _take, "take_along_axis": _take_along_axis, "scatter_add": _scatter_add,
         "scatter_add_along_axis": _scatter_add_along_axis, "arange": _arange}
