"""SplitMix64 for CUDA kernels: graphc/backend/numba/splitmix.py's `mix`, compiled into the
kernel that calls it (an intrinsic: compile_internal inlines it, so no device function is
compiled apart, and a kernel compiles to PTX without a GPU), or, in Numba's CUDA simulator
(kernels run as Python), the same arithmetic with NumPy's overflow warnings silenced. A
random_uniform kernel imports it (graphc/backend/cuda/index_kernels.py), so its bits are the
reference's and the cpu backend's.
"""
from numba import config

from ..numba.splitmix import mix, python_splitmix64


def _device():
    from numba import types
    from numba.cuda.extending import intrinsic

    @intrinsic
    def splitmix64(typingctx, state, counter):
        """mix(state, counter) in uint64, inlined where a kernel calls it."""
        signature = types.uint64(types.uint64, types.uint64)

        def codegen(context, builder, sig, args):
            return context.compile_internal(builder, mix, sig, args)
        return signature, codegen
    return splitmix64


splitmix64 = python_splitmix64 if config.ENABLE_CUDASIM else _device()
