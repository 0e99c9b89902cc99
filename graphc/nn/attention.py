"""Self-attention and the pre-norm transformer block, from batched matmuls and softmax.

q, k and v come from one packed projection, x @ W_qkv (D -> 3D), split three ways (three
slice views, whose gradients join back into one concat: one matmul for the weight's
gradient). The causal mask is built in the graph from `arange` and a comparison (the mask
of gc.tril), so the sequence length T may stay symbolic.
"""
from __future__ import annotations

import math

from .. import dsl
from ..errors import ShapeError
from ..indexing import tri_mask
from ..ir.shapes import as_shape, fmt_shape
from .layers import GELU, LayerNorm, Linear
from .module import Module, Sequential, check_input


def causal_mask(length):
    """The bool (T, T) mask a causal model attends with: True on and below the diagonal
    (query q may see keys k <= q). `length` is an int, a dim name ("T") or a size in dims;
    the mask is arange and a comparison, as gc.tril's."""
    (t,) = as_shape((length,))
    return tri_mask(t, t, 0, lower=True)


class MultiHeadSelfAttention(Module):
    """Multi-head scaled dot-product self-attention over x (B, T, D):

        q, k, v = split(x W_qkv, 3), each cut into H heads of D/H -> (B, H, T, D/H)
        out = softmax(where(mask, q kᵀ / sqrt(D/H), -inf)) v, heads joined -> (B, T, D),
        then x W_o

    (torch.nn.MultiheadAttention with batch_first=True, whose in_proj packs q, k and v the
    same way, no dropout). With causal=True position t attends only to positions <= t; B and
    T may both be symbolic.
    """

    def __init__(self, embed_dim: int, num_heads: int, causal: bool = True,
                 bias: bool = True):
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiHeadSelfAttention: embed_dim {embed_dim} must be a "
                             f"multiple of num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.causal = int(embed_dim), int(num_heads), causal
        self.head_dim = embed_dim // num_heads
        self.qkv = Linear(embed_dim, 3 * embed_dim, bias)
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

        q, k, v = (heads(t) for t in dsl.split(self.qkv(x), 3, axis=-1))
        q = q * (1.0 / math.sqrt(Dh))
        scores = q @ dsl.transpose(k, (0, 1, 3, 2))              # (B, H, T, T)
        if self.causal:
            scores = dsl.where(causal_mask(T), scores, -math.inf)
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
