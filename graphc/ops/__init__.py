"""Op declarations, one module per op family, and the one list of them all.

Nothing registers itself on import: `install()` puts every declaration of `ALL` into the
op table (graphc/ir/op.py), and `import graphc` calls it.
"""
from ..ir.op import register
from . import (contract, elementwise, fused, gather, layout, normalize, random, reduce, slicing,
               source, window)

ALL = [*source.DECLARATIONS, *elementwise.DECLARATIONS, *layout.DECLARATIONS,
       *reduce.DECLARATIONS, *normalize.DECLARATIONS, *contract.DECLARATIONS,
       *fused.DECLARATIONS, *slicing.DECLARATIONS, *gather.DECLARATIONS,
       *window.DECLARATIONS, *random.DECLARATIONS]


def call_checks(nodes) -> list:
    """What a compiled function checks when it binds its inputs, beyond their shapes: index
    ranges of gathers fed straight from an input, boxes of slices with symbolic bounds. Each
    check is a function (arrays, dims, bound_by) raising gc.InputError."""
    return [c for n in nodes for module in (slicing, gather) for c in module.call_checks(n)]


def install() -> None:
    """Register every op of `ALL` (again is harmless)."""
    for opdef in ALL:
        register(opdef)
