"""The arrays generated code makes: `carray(address, (n,), dtype)`, the n elements at an
address, and `scratch(n, dtype)`, a new array (np.empty's), both one-dimensional.

Numba's own (numba.carray with a dtype, np.empty) are jitted functions of numba.np.arrayobj,
and machine code that calls them names their environments: loading it from Numba's cache
imports numba.np.arrayobj, 30 ms of a warm first step here (35 ms to import it alone). These
are intrinsics, code inlined where they are called, with the same lowering (arrayobj's helpers,
imported only when something compiles), so loading a kernel imports nothing. Under
NUMBA_DISABLE_JIT they are NumPy views and np.empty.
"""
from __future__ import annotations

import ctypes

import numpy as np
from numba import config, types

__all__ = ["carray", "scratch"]

if config.DISABLE_JIT:
    def carray(address, shape, dtype):
        """The elements of `dtype` at `address`, as a NumPy array that writes through (as
        numba.carray makes them in compiled code)."""
        dtype, (n,) = np.dtype(dtype), shape
        if n == 0:
            return np.empty(0, dtype)
        return np.frombuffer((ctypes.c_char * (n * dtype.itemsize)).from_address(address),
                             dtype)

    def scratch(n, dtype):
        return np.empty(n, dtype)
else:
    from numba.core import cgutils
    from numba.extending import intrinsic

    def _item(dtype):
        """The element type a dtype argument names (np.float32 is a NumberClass)."""
        if isinstance(dtype, types.NumberClass):
            return dtype.instance_type
        if isinstance(dtype, types.DType):
            return dtype.dtype
        raise TypeError(f"graphc: not a dtype: {dtype}")

    def _size(context, builder, ty, value):
        return context.cast(builder, value, ty, types.intp)

    @intrinsic
    def carray(typingctx, address, shape, dtype):
        """The `shape[0]` elements of `dtype` at `address` (a pointer or an int), as an array
        that does not own them: numba.carray's lowering, inlined."""
        if not isinstance(shape, types.BaseTuple) or len(shape) != 1:
            raise TypeError("graphc: carray takes a shape of one dim")
        array = types.Array(_item(dtype), 1, "C")

        def codegen(context, builder, signature, args):
            from numba.np.arrayobj import get_itemsize, make_array, populate_array
            pointer, (n,) = args[0], cgutils.unpack_tuple(builder, args[1])
            data_type = context.get_data_type(array.dtype).as_pointer()
            data = builder.inttoptr(pointer, data_type) if isinstance(address, types.Integer) \
                else builder.bitcast(pointer, data_type)
            itemsize = context.get_constant(types.intp, get_itemsize(context, array))
            out = make_array(array)(context, builder)
            populate_array(out, data=data, shape=[_size(context, builder, shape[0], n)],
                           strides=[itemsize], itemsize=itemsize, meminfo=None)
            return out._getvalue()
        return array(address, shape, dtype), codegen

    @intrinsic
    def scratch(typingctx, n, dtype):
        """A new array of n elements of `dtype`, which Numba's runtime owns and frees when
        the function is done with it: np.empty's allocation, inlined (arrayobj's
        _empty_nd_impl calls the allocator through a jitted function of its own)."""
        array = types.Array(_item(dtype), 1, "C")

        def codegen(context, builder, signature, args):
            from numba.np.arrayobj import get_itemsize, make_array, populate_array
            count = _size(context, builder, n, args[0])
            itemsize = context.get_constant(types.intp, get_itemsize(context, array))
            product = builder.smul_with_overflow(count, itemsize)
            with builder.if_then(builder.extract_value(product, 1), likely=False):
                context.call_conv.return_user_exc(builder, ValueError, (
                    "array is too big; `arr.size * arr.dtype.itemsize` is larger than the "
                    "maximum possible size.",))
            meminfo = context.nrt.meminfo_alloc_aligned(
                builder, builder.extract_value(product, 0),
                context.get_preferred_array_alignment(array.dtype))
            with builder.if_then(cgutils.is_null(builder, meminfo), likely=False):
                context.call_conv.return_user_exc(builder, MemoryError, (
                    "graphc: no memory for a kernel's scratch array",))
            data = builder.bitcast(context.nrt.meminfo_data(builder, meminfo),
                                   context.get_data_type(array.dtype).as_pointer())
            out = make_array(array)(context, builder)
            populate_array(out, data=data, shape=[count], strides=[itemsize],
                           itemsize=itemsize, meminfo=meminfo)
            return out._getvalue()
        return array(n, dtype), codegen
