"""Self-attention and the pre-norm transformer block, from batched matmuls and softmax.

The causal mask is a constant (T, T) matrix of 0 (may attend) and -1e9 (may not) added to
the scores before the softmax, so it needs a concrete sequence length T. (A graph-level
"iota"/triangular-mask primitive would let T stay symbolic.)
"""
from __future__ import annotations

import math

import numpy as np

from .. import dsl
from ..errors import ShapeError
from ..ir.shapes import fmt_shape
from .layers import GELU, LayerNorm, Linear
from .module import Module, Sequential, check_input

MASKED = -1e9  # exp(MASKED - max) is exactly 0 in float32 and float64


def causal_mask(length: int, dtype: str = "float32"):
    """A constant (T, T): 0 on and below the diagonal (query q may see keys k <= q), MASKED
    above it."""
    mask = np.triu(np.full((length, length), MASKED), k=1)
    return dsl.constant(mask, dtype=dtype)


class MultiHeadSelfAttention(Module):
    """Multi-head scaled dot-product self-attention over x (B, T, D):

        q, k, v = x Wq, x Wk, x Wv, each split into H heads of D/H -> (B, H, T, D/H)
        out = softmax(q kᵀ / sqrt(D/H) + mask) v, heads joined -> (B, T, D), then x Wo

    (torch.nn.MultiheadAttention with batch_first=True, separate q/k/v projections, no
    dropout). With causal=True position t attends only to positions <= t, which needs a
    concrete T (see causal_mask); B may be symbolic.
    """

    def __init__(self, embed_dim: int, num_heads: int, causal: bool = True,
                 bias: bool = True):
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiHeadSelfAttention: embed_dim {embed_dim} must be a "
                             f"multiple of num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.causal = int(embed_dim), int(num_heads), causal
        self.head_dim = embed_dim // num_heads
        self.query = Linear(embed_dim, embed_dim, bias)
        self.key = Linear(embed_dim, embed_dim, bias)
        self.value = Linear(embed_dim, embed_dim, bias)
        self.out = Linear(embed_dim, embed_dim, bias)

    def forward(self, x):
        x = check_input("MultiHeadSelfAttention", x, 3, self.embed_dim)
        if x.ndim != 3:
            raise ShapeError(f"MultiHeadSelfAttention: expected (batch, time, {self.embed_dim}),"
                             f" got shape {fmt_shape(x.shape)}")
        B, T, D = x.shape
        H, Dh = self.num_heads, self.head_dim

        def heads(t):  # (B, T, D) -> (B, H, T, Dh)
            return dsl.transpose(dsl.reshape(t, (B, T, H, Dh)), (0, 2, 1, 3))

        q = heads(self.query(x)) * (1.0 / math.sqrt(Dh))
        k, v = heads(self.key(x)), heads(self.value(x))
        scores = q @ dsl.transpose(k, (0, 1, 3, 2))              # (B, H, T, T)
        if self.causal:
            if not T.is_number:
                raise ShapeError(f"MultiHeadSelfAttention: a causal mask needs a concrete "
                                 f"sequence length, got input shape {fmt_shape(x.shape)} with "
                                 f"symbolic T = {T}")
            scores = scores + causal_mask(int(T), scores.dtype)
        attended = dsl.softmax(scores, axis=-1) @ v                # (B, H, T, Dh)
        joined = dsl.reshape(dsl.transpose(attended, (0, 2, 1, 3)), (B, T, D))
        return self.out(joined)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, causal={self.causal}"


class TransformerBlock(Module):
    """A pre-norm transformer block (GPT-2's layout):

        x = x + attn(ln1(x))
        x = x + mlp(ln2(x)),   mlp = Linear(D, mlp_ratio*D) -> GELU -> Linear(mlp_ratio*D, D)
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: int = 4,
                 causal: bool = True):
        super().__init__()
        hidden = int(mlp_ratio * embed_dim)
        self.ln1 = LayerNorm(embed_dim)
        self.attn = MultiHeadSelfAttention(embed_dim, num_heads, causal=causal)
        self.ln2 = LayerNorm(embed_dim)
        self.mlp = Sequential(Linear(embed_dim, hidden), GELU(), Linear(hidden, embed_dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))
