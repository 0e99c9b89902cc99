"""The errors graphc raises on bad input: each names the op or the input at fault.

Every problem with what a compiled function is called with is a `gc.InputError`, so one
`except gc.InputError` catches them all. Those Python reports as a TypeError (a missing or
unknown input, a value that is not a numeric array) are an `InputTypeError`, which is both,
so code written against the builtin type keeps working.
"""


class ShapeError(ValueError):
    """Operand shapes do not fit an op; raised while the graph is built."""


class InputError(ValueError):
    """An input given to a compiled function does not fit: a wrong rank, size or value."""


class InputTypeError(InputError, TypeError):
    """An InputError of the kind Python calls a TypeError: a missing or unknown input name,
    a value that cannot be read as a numeric array, floats for an integer input."""


class InputWarning(UserWarning):
    """An input was converted with a loss: float64 narrowed to float32, or values that
    overflowed to inf in the input's dtype. Each compiled function warns once of each."""
