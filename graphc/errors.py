"""The errors graphc raises on bad input: each names the op or the input at fault."""


class ShapeError(ValueError):
    """Operand shapes do not fit an op; raised while the graph is built."""


class InputError(ValueError):
    """An array given to a compiled function does not fit the input it is bound to."""
