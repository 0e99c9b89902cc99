"""`np` for generated kernels in Numba's CUDA simulator: NumPy, with maximum and minimum as
Numba compiles them for the device.

Numba's lowering of np.maximum and np.minimum, the CPU's and the device's alike, propagates NaN
and gives the first argument at a tie (np.maximum(0.0, -0.0) is 0.0; NumPy's own is -0.0), so
the printers pass the arguments the other way round (graphc/backend/numba/printer.py). In the
simulator a kernel is plain Python, where np.maximum would be NumPy's: here it is the
device's. A kernel module imports this as `np` when printed for the simulator (module.py).
"""
import numpy as _numpy


def maximum(a, b):
    """The device's np.maximum (its PTX: a if a is NaN or a >= b, else b)."""
    return a if a != a or a >= b else b


def minimum(a, b):
    """The device's np.minimum (a if a is NaN or a <= b, else b)."""
    return a if a != a or a <= b else b


def __getattr__(name: str):
    return getattr(_numpy, name)  # everything else is NumPy's
