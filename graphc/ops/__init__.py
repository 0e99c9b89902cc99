"""Op declarations, one module per family; importing this package registers them all."""
from . import source, elementwise, layout, reduce, contract  # noqa: F401
from . import fused  # noqa: F401  (the kernels the fusion passes make)
