"""Op declarations, one module per op family, and the one list of them all.

Nothing registers itself on import: `install()` puts every declaration of `ALL` into the
op table (graphc/ir/op.py), and `import graphc` calls it.
"""
from ..ir.op import register
from . import contract, elementwise, fused, layout, normalize, reduce, source

ALL = [*source.DECLARATIONS, *elementwise.DECLARATIONS, *layout.DECLARATIONS,
       *reduce.DECLARATIONS, *normalize.DECLARATIONS, *contract.DECLARATIONS,
       *fused.DECLARATIONS]


def install() -> None:
    """Register every op of `ALL` (again is harmless)."""
    for opdef in ALL:
        register(opdef)
