from .dot import to_dot  # noqa: F401
from .pictures import render  # noqa: F401
