from .dot import to_dot, render  # noqa: F401
