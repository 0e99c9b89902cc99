"""Numba's runtime (NRT) started with its own functions' machine code from graphc's cache.

Every process that runs Numba-compiled code starts Numba's runtime, which compiles a few
functions of its own (reference counts, the data of a memory block) with LLVM: 19 ms here, the
largest single part of loading a warm program's modules (the rest is 3 ms a module). Where
graphc loads its modules (warm.py), the runtime starts as Numba starts it
(numba/core/runtime/nrt.py: _Runtime.initialize), but with those functions' machine code
loaded where an earlier process saved it (2.6 ms), as Numba's cache does for any compiled
function.

The file is named by what the code depends on: Numba's and llvmlite's versions, the CPU (the
codegen's magic tuple, which names Numba's own cache entries) and the source of Numba's runtime
module. It holds a hash of its content, checked before LLVM sees it: LLVM ends the process on
code it cannot link. On anything unexpected the runtime starts as Numba starts it.
"""
from __future__ import annotations

import hashlib
import os
import struct

from . import cache


def initialize(context) -> None:
    """Numba's runtime, started (once) for `context`, Numba's CPU target context."""
    from numba.core.runtime import rtsys
    if rtsys._init:
        return
    try:
        _initialize(context, rtsys)
    except Exception:  # noqa: BLE001 (another Numba, an unreadable cache: Numba's own way)
        rtsys.initialize(context)


def _initialize(context, rtsys) -> None:
    from llvmlite import binding
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.runtime import _nrt_python, nrtdynmod
    with global_compiler_lock:
        if rtsys._init:
            return
        if config.NRT_STATS:
            _nrt_python.memsys_enable_stats()
        # the runtime's C functions, under the names its code calls them by (as Numba does)
        for name, address in _nrt_python.c_helpers.items():
            binding.add_symbol(name if name.startswith("_") else "NRT_" + name, address)
        codegen = context.codegen()
        path = os.path.join(cache.cache_dir(), f"nrt-{_key(codegen, nrtdynmod)}.bin")
        saved = _read(path)
        if saved is None:
            ir_module, library = nrtdynmod.create_nrt_module(context)
            library.enable_object_caching()  # so that its machine code can be saved
            library.add_ir_module(ir_module)
            library.finalize()
            _, _, (object_code, bitcode) = library.serialize_using_object_code()
            _write(path, object_code, bitcode)
        else:
            library = codegen.unserialize_library(("nrt", "object", saved))
        rtsys._library, rtsys._init = library, True


def _key(codegen, nrtdynmod) -> str:
    import llvmlite
    import numba
    digest = hashlib.sha256(repr((numba.__version__, llvmlite.__version__,
                                  codegen.magic_tuple())).encode())
    with open(nrtdynmod.__file__, "rb") as f:
        digest.update(f.read())
    return digest.hexdigest()[:20]


def _read(path: str) -> tuple[bytes, bytes] | None:
    """(object code, bitcode) as saved, or None where the file is missing or damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    check, payload = data[:32], data[32:]
    if len(payload) < 8 or hashlib.sha256(payload).digest() != check:
        return None
    (n,) = struct.unpack("<Q", payload[:8])
    return (payload[8:8 + n], payload[8 + n:]) if 8 + n <= len(payload) else None


def _write(path: str, object_code: bytes, bitcode: bytes) -> None:
    payload = struct.pack("<Q", len(object_code)) + object_code + bitcode
    try:
        cache.write_atomic(path, hashlib.sha256(payload).digest() + payload)
    except OSError:  # a read-only cache: the next process compiles them again
        pass
