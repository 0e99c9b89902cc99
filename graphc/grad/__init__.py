from .driver import grad  # noqa: F401
from .check import check_grad  # noqa: F401
