"""The number of threads Numba's pool gives the calling thread's parallel loops, from
Numba-compiled code that is cached on disk.

`numba.get_num_threads()` compiled into a function calls the pool through a ctypes pointer,
which Numba cannot cache ("uses dynamic globals"): a contraction kernel that splits its BLAS
calls across the pool (graphc/backend/numba/contract.py, mode 3) would compile again in every
process. `pool_threads()` calls the pool's `get_num_threads` by symbol name instead, which the
pool registers with LLVM when it starts (Numba's own parallel loops call it so).
Under NUMBA_DISABLE_JIT it is numba.get_num_threads.
"""
from __future__ import annotations

from llvmlite import ir
from numba import config, get_num_threads, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _pool_threads(typingctx):
    from numba.np.ufunc.parallel import _launch_threads
    _launch_threads()  # registers the symbol

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(cgutils.intp_t, []),
                                            "get_num_threads")
        return builder.call(fn, [])
    return types.intp(), codegen


if config.DISABLE_JIT:
    pool_threads = get_num_threads
else:
    from numba import njit

    @njit(inline="always")
    def pool_threads():
        """Threads for the caller's parallel loops (set_num_threads; at least 1)."""
        return max(_pool_threads(), 1)
