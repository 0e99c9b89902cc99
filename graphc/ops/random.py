"""Counter-based random numbers: the one place the generator behind dropout is defined.

`random_uniform(seed, shape, stream)` gives float32 values in [0, 1), one per element, each a
pure function of (seed, stream, the element's flat row-major index i). Nothing is sequential,
so the NumPy reference, a CPU loop and a CUDA thread per element compute the same bits:

    mix64(z):  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9      (all uint64, wrapping)
               z = (z ^ (z >> 27)) * 0x94D049BB133111EB
               return z ^ (z >> 31)                           (SplitMix64's finalizer)
    key      = mix64(seed ^ (stream * 0x9E3779B97F4A7C15))    (seed read as uint64)
    bits(i)  = mix64(key + (i + 1) * 0x9E3779B97F4A7C15)      (SplitMix64's i-th output)
    u(i)     = float32(bits(i) >> 40) / 2**24                 (top 24 bits: exact in float32)

`stream` tells apart the generators of one seed (each dropout layer draws its own), so two
layers fed the same seed still get independent masks. A value is k / 2**24 for an integer
k < 2**24, so `u >= p` keeps an element with probability 1 - p up to 2**-24.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.op import OpDef
from ..ir.shapes import fmt_shape, numel
from .common import concrete

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MUL1, MUL2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
BITS = 24


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer over uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * MUL1
        z = (z ^ (z >> np.uint64(27))) * MUL2
    return z ^ (z >> np.uint64(31))


def uniform(seed: int, stream: int, shape) -> np.ndarray:
    """The float32 values of random_uniform for an int seed, a stream and a concrete shape."""
    seed64 = np.uint64(int(seed) % 2 ** 64)  # its two's-complement bits (any int dtype)
    with np.errstate(over="ignore"):
        key = mix64(seed64 ^ (np.uint64(stream) * GOLDEN))
        count = np.arange(1, int(np.prod(shape, dtype=np.int64)) + 1, dtype=np.uint64)
        bits = mix64(key + count * GOLDEN)
    return ((bits >> np.uint64(64 - BITS)).astype(np.float32) /
            np.float32(2 ** BITS)).reshape(shape)


def _infer(inputs, attrs):
    (seed,) = inputs
    if seed.ndim != 0 or np.dtype(seed.dtype).kind not in "iu":
        raise ShapeError(f"random_uniform: the seed must be an integer scalar, got "
                         f"{seed.dtype} of shape {fmt_shape(seed.shape)}")
    stream = attrs["stream"]
    if not isinstance(stream, int) or isinstance(stream, bool) or not 0 <= stream < 2 ** 63:
        raise ShapeError(f"random_uniform: stream must be an int in [0, 2**63), got {stream!r}")
    return attrs["shape"], "float32"


def _reference(values, node, dims):
    return uniform(int(values[0]), node.attrs["stream"], concrete(node.shape, dims))


# Integer hashing, not float arithmetic: counted as one operation per element.
RANDOM_UNIFORM = OpDef("random_uniform", "index", _infer, _reference,
                       flops=lambda node: numel(node.shape) if node.shape else sympy.Integer(1),
                       doc="float32 uniform [0, 1) per element from (seed, stream, flat "
                           "index): a counter-based hash. attrs: shape, stream.")
DECLARATIONS = [RANDOM_UNIFORM]
