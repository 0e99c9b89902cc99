"""How the driver calls a kernel: through the kernel's C entry point, by symbol name.

A driver that called each kernel as a Numba function had every kernel's code linked into its
own and optimized again, as one module: the tiny transformer's driver, 224 calls, took 46 s
of Numba's compile on top of its kernels (the big MLP's, 16 calls, 2.2 s). Now each kernel
is a C entry point (numba.cfunc) that makes its arrays from their addresses and lengths; it
is registered under a symbol name, and the driver's calls are calls of that symbol, so each
kernel's code is compiled once, in its own module, and the driver compiles in a fraction of
a second. (A kernel on arrays inlined into an entry point took 0.2 s longer to compile.)

A C function cannot raise: an entry point returns a status, 0, or 1 where the kernel found
what it cannot compute (a label out of range, an empty maximum: `ks.faults`), and the driver
raises the kernel's ValueError. Under NUMBA_DISABLE_JIT the entry point is the same Python,
given NumPy views of the same addresses.
"""
from __future__ import annotations

import ctypes

import numpy as np
from numba import config, types

__all__ = ["I", "P", "carray", "entry", "export", "status", "symbol"]

P, I = types.voidptr, types.int64
status = types.int64  # what an entry point returns: 0, or 1 where the kernel failed


def symbol(function: str) -> str:
    """The name a kernel's entry point is registered under (a kernel's name is the hash of
    its source: a name always means the same code)."""
    return f"graphc_{function}"


if config.DISABLE_JIT:
    def carray(address, shape, dtype):
        """The elements of `dtype` at `address`, as a NumPy array that writes through (as
        numba.carray makes them in compiled code)."""
        dtype, (n,) = np.dtype(dtype), shape
        if n == 0:
            return np.empty(0, dtype)
        return np.frombuffer((ctypes.c_char * (n * dtype.itemsize)).from_address(address),
                             dtype)

    def entry(signature):
        return lambda function: function

    def export(name, function, signature):
        return function
else:
    from llvmlite import binding
    from numba import carray, cfunc

    def entry(signature):
        """A C entry point, compiled now (or loaded from Numba's cache)."""
        return cfunc(signature, cache=True, error_model="numpy")

    def export(name, function, signature):
        """What the driver calls: the entry point's symbol."""
        binding.add_symbol(symbol(name), function.address)
        return types.ExternalFunction(symbol(name), signature)
