"""How the driver calls a kernel: through the kernel's C entry point, by symbol name.

A driver that called each kernel as a Numba function had every kernel's code linked into its
own and optimized again, as one module: the tiny transformer's driver, 224 calls, took 46 s
of Numba's compile on top of its kernels (the big MLP's, 16 calls, 2.2 s). Now each kernel
is a C entry point (numba.cfunc) that makes its arrays from their addresses and lengths; it
is registered under a symbol name, and the driver's calls are calls of that symbol, so each
kernel's code is compiled once, in its own module, and the driver compiles in a fraction of
a second. (A kernel on arrays inlined into an entry point took 0.2 s longer to compile.)

The driver reads its arrays' addresses from the array objects themselves (`data_address`):
the caller passes one int64 array of their ids, where each array had been an argument. Numba
compiles a function's array arguments at 12-20 ms each, faster than linearly in their number
(1.2 s for 100, 8.1 s for 400, a function doing nothing but read their sizes), and a step's
inputs are its parameters and their optimizer state: the tiny transformer's driver had 96.

A C function cannot raise: an entry point returns a status, 0, or 1 where the kernel found
what it cannot compute (a label out of range, an empty maximum: `ks.faults`), and the driver
raises the kernel's ValueError. Under NUMBA_DISABLE_JIT the entry point is the same Python,
given NumPy views of the same addresses.
"""
from __future__ import annotations

import ctypes
import functools
import sys

import numpy as np
from numba import config, types

__all__ = ["I", "P", "data_address", "entry", "export", "fill", "filled",
           "kernel", "stand_in", "status", "symbol"]

P, I = types.voidptr, types.int64
status = types.int64  # what an entry point returns: 0, or 1 where the kernel failed


@functools.lru_cache(maxsize=1)
def data_offset() -> int:
    """Where a NumPy array object holds its data pointer, in bytes from the object's address
    (NumPy's PyArrayObject: right after Python's object header, 16 bytes on CPython's usual
    build), found once by looking where it sits in two arrays."""
    probes = [np.empty(3), np.empty((2, 5), np.float32)]
    for offset in range(8, 72, 8):
        if all(ctypes.c_void_p.from_address(id(a) + offset).value == a.ctypes.data
               for a in probes):
            return offset
    raise RuntimeError("graphc: found no data pointer in NumPy's array object")  # pragma: no cover


def symbol(function: str) -> str:
    """The name a kernel's entry point is registered under (a kernel's name is the hash of
    its source: a name always means the same code)."""
    return f"graphc_{function}"


if config.DISABLE_JIT:
    def data_address(array_id, offset):
        """The data pointer of the array object at `array_id` (its id())."""
        return ctypes.c_void_p.from_address(int(array_id) + int(offset)).value or 0

    def entry(signature):
        return lambda function: function

    def export(name, function, signature):
        return function

    def kernel(name, signature):
        """The Python function of kernel `name` (its module is imported before the driver)."""
        return getattr(sys.modules[f"graphc_k_{name}"], f"{name}_call")

    def stand_in(name):
        pass

    def fill(name, address):
        pass

    def filled(name):
        """Whether `name`'s cell holds an entry point: never, run as Python (a kernel then
        runs its serial loops: kernels.py)."""
        return lambda: False

    def through(name, signature):
        return None
else:
    from llvmlite import binding, ir
    from numba import cfunc
    from numba.extending import intrinsic

    @intrinsic
    def data_address(typingctx, array_id, offset):
        """The data pointer of the array object at `array_id` (its id()): the word at
        `offset` bytes into the object (data_offset)."""
        def codegen(context, builder, signature, args):
            word = ir.IntType(64)
            at = builder.add(args[0], args[1])
            return builder.load(builder.inttoptr(at, word.as_pointer()))
        return types.int64(types.int64, types.int64), codegen

    def entry(signature):
        """A C entry point, compiled now (or loaded from Numba's cache)."""
        return cfunc(signature, cache=True, error_model="numpy")

    def export(name, function, signature):
        """What the driver calls: the entry point's symbol."""
        binding.add_symbol(symbol(name), function.address)
        return kernel(name, signature)

    def kernel(name, signature):
        """What the driver calls for kernel `name`: its entry point's symbol, declared. The
        driver compiles without the kernel compiled; its machine code names the symbol, which
        the kernel's module registers as it loads (before the driver, wherever it runs)."""
        return types.ExternalFunction(symbol(name), signature)

    # what a stand-in returns: a kernel's failure (never called: it only lets code link)
    _STAND_IN = ctypes.CFUNCTYPE(ctypes.c_int64)(lambda: 1)

    def stand_in(name):
        """Register a stand-in for kernel `name`'s entry point where this process has none: a
        helper compiles a driver for the cache before the kernels it calls (jobs.py), and
        LLVM aborts the process on a symbol that resolves to nothing. The cache keeps the
        driver's code with the symbol unresolved; a process that runs it resolves it when it
        loads it, after the kernels."""
        if not binding.address_of_symbol(symbol(name)):
            binding.add_symbol(symbol(name), ctypes.cast(_STAND_IN, ctypes.c_void_p).value)

    # ---- calls through a cell: a shared matmul module's entry points (gemm.py) ----------
    # A kernel calls the shared matmul (gemm.py) through a cell, a word holding the entry
    # point's address, registered under `<symbol>_cell` before anything names it. So a kernel
    # compiles, in any process, before the matmul module it calls is compiled or loaded (a
    # symbol naming no code made LLVM abort the process), and its machine code, cached, is
    # linked to this process's cell as it loads. Loading the matmul module fills the cell; the
    # runtime loads every matmul module a program's kernels call before it runs them.
    _cells: dict = {}

    def _cell(name: str) -> ctypes.c_void_p:
        cell = _cells.get(name)
        if cell is None:
            cell = _cells[name] = ctypes.c_void_p(0)
            binding.add_symbol(f"{name}_cell", ctypes.addressof(cell))
        return cell

    def fill(name: str, address: int) -> None:
        """The entry point at `address` is what calls through `name`'s cell reach."""
        _cell(name).value = address

    def _cell_word(builder, name: str):
        """The value of `name`'s cell, in compiled code: the cell is this process's, declared
        here and defined elsewhere (registered as a symbol by _cell)."""
        cell = builder.module.globals.get(f"{name}_cell")
        if cell is None:
            cell = ir.GlobalVariable(builder.module, ir.IntType(8).as_pointer(), f"{name}_cell")
        return builder.load(cell)

    @functools.lru_cache(maxsize=1024)  # one per kernel with a split loop
    def filled(name: str):
        """A function for compiled code: whether `name`'s cell holds an entry point yet (a
        kernel's parallel loops are loaded when a call first reaches their size)."""
        _cell(name)

        def typer(typingctx):
            def codegen(context, builder, sig, args):
                return builder.icmp_unsigned("!=", _cell_word(builder, name),
                                             ir.Constant(ir.IntType(8).as_pointer(), None))
            return types.boolean(), codegen
        return intrinsic(typer)

    @functools.lru_cache(maxsize=256)
    def through(name: str, signature):
        """A function for compiled code that calls, with C's convention, the entry point of
        `signature` whose address `name`'s cell holds when the call runs."""
        _cell(name)
        n = len(signature.args)

        def typer(typingctx, *args):
            return signature, codegen

        def codegen(context, builder, sig, args):
            returns = context.get_value_type(sig.return_type) \
                if sig.return_type != types.void else ir.VoidType()
            fnty = ir.FunctionType(returns, [context.get_value_type(a) for a in sig.args])
            function = builder.bitcast(_cell_word(builder, name), fnty.as_pointer())
            result = builder.call(function, args)
            return context.get_dummy_value() if sig.return_type == types.void else result

        params = ", ".join(f"a{j}" for j in range(n))  # an intrinsic's arguments are named
        scope = {"typer": typer}
        exec(f"def call(typingctx, {params}):\n    return typer(typingctx, {params})", scope)
        return intrinsic(scope["call"])
