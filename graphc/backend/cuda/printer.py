"""Formulas for the device: the CPU's ScalarPrinter, with the functions Numba's CUDA target
has.

On the CPU, math.exp of a float32 is a float64 and np.exp keeps float32, so the CPU printer
prints np.*. Numba's CUDA target is the other way round: it has no np.exp, np.sqrt or np.abs
in kernels, and types math.exp(float32) as float32 (libdevice's expf). So the device printer
prints math.* (abs() for Abs); everything else (typed literals, casts,
conditionals, np.maximum with its arguments swapped) is the CPU printer's: Numba's lowering of
np.maximum and np.minimum is the same for the device, NaN-propagating, the first argument at a
tie (its PTX: setp.ge, selp), where NumPy gives the second.

In the simulator, `math` in a generated kernel module is graphc/backend/cuda/simmath.py:
NumPy's functions under math's names, so that there too a float32 stays float32 and exp(1000)
is inf (Python's math.exp raises OverflowError), as on the device; and `np` is simnumpy.py,
NumPy with the device's maximum and minimum.
"""
from __future__ import annotations

from ..numba.printer import ScalarPrinter

FUNCS = {"exp": "math.exp", "log": "math.log", "sqrt": "math.sqrt", "tanh": "math.tanh",
         "sin": "math.sin", "cos": "math.cos", "Abs": "abs", "log1p": "math.log1p",
         "expm1": "math.expm1", "atan": "math.atan"}


class DevicePrinter(ScalarPrinter):
    funcs = FUNCS

