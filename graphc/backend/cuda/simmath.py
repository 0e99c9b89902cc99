"""`math` for generated kernels in Numba's CUDA simulator: NumPy's functions under math's names.

On a GPU, Numba compiles math.exp(float32) to libdevice's float32 expf; in the simulator a
kernel is plain Python, where math.exp would return a float64 and raise OverflowError for
exp(1000), and math.log(0) ValueError. NumPy's functions keep the type and give inf, -inf and
NaN as the device does. A kernel module imports this as `math` when printed for the simulator
(graphc/backend/cuda/module.py).
"""
import math as _math

import numpy as np

exp, log, sqrt, tanh, sin, cos = np.exp, np.log, np.sqrt, np.tanh, np.sin, np.cos
log1p, expm1, atan = np.log1p, np.expm1, np.arctan
erf = _math.erf  # the printer casts its result back to the statement's type
inf, nan = _math.inf, _math.nan
