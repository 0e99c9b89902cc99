"""Attention (graphc/nn/attention.py): multi-head self-attention (one packed q/k/v
projection) and the pre-norm block against NumPy implementations, causality with a symbolic
sequence length, gradients by finite differences, errors."""
import math

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(0)


def lin(layer, x):
    return x @ layer.weight.value.astype(np.float64) + layer.bias.value


def np_attention(m, x, causal=True):
    B, T, D = x.shape
    H, Dh = m.num_heads, m.head_dim

    def heads(t):
        return t.reshape(B, T, H, Dh).transpose(0, 2, 1, 3)
    q, k, v = (heads(t) for t in np.split(lin(m.qkv, x), 3, axis=-1))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(Dh)
    if causal:
        scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return lin(m.out, (p @ v).transpose(0, 2, 1, 3).reshape(B, T, D))


def np_block(blk, x):
    def ln(m, t):
        mu = t.mean(-1, keepdims=True)
        var = ((t - mu) ** 2).mean(-1, keepdims=True)
        return (t - mu) / np.sqrt(var + m.eps) * m.weight.value + m.bias.value
    erf = np.vectorize(math.erf)
    x = x + np_attention(blk.attn, ln(blk.ln1, x))
    h = lin(blk.mlp[0], ln(blk.ln2, x))
    h = h / 2 * (1 + erf(h / math.sqrt(2)))
    return x + lin(blk.mlp[2], h)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_matches_numpy(causal):
    gc.nn.manual_seed(0)
    m = gc.nn.MultiHeadSelfAttention(8, 2, causal=causal)
    T = 5
    x = gc.tensor("x", ("B", T, 8))
    X = RNG.standard_normal((3, T, 8)).astype(np.float32)
    got = gc.nn.function(m(x))(x=X)
    np.testing.assert_allclose(got, np_attention(m, X.astype(np.float64), causal),
                               rtol=1e-4, atol=1e-5)


def test_causal_attention_does_not_look_ahead():
    gc.nn.manual_seed(1)
    m = gc.nn.MultiHeadSelfAttention(8, 4)
    f = gc.nn.function(m(gc.tensor("x", (1, 6, 8))))
    X = RNG.standard_normal((1, 6, 8)).astype(np.float32)
    Y = X.copy()
    Y[:, 4:] = RNG.standard_normal((1, 2, 8))  # change the future only
    a, b = f(x=X), f(x=Y)
    np.testing.assert_array_equal(a[:, :4], b[:, :4])
    assert not np.allclose(a[:, 4:], b[:, 4:])


def test_causal_mask_is_true_on_and_below_the_diagonal_for_a_symbolic_length():
    mask = gc.compile(gc.nn.causal_mask(3))()
    np.testing.assert_array_equal(mask, np.tril(np.ones((3, 3), bool)))
    m = gc.nn.causal_mask("T")
    assert m.dtype == "bool" and str(m.shape) == "(T, T)"
    t = gc.tensor("t", ("T",))  # binds T
    f = gc.compile([m], inputs=[t])
    np.testing.assert_array_equal(f(t=np.zeros(4, np.float32))[0], np.tril(np.ones((4, 4), bool)))


def test_causal_attention_works_for_a_symbolic_sequence_length():
    gc.nn.manual_seed(5)
    m = gc.nn.MultiHeadSelfAttention(8, 2)
    x = gc.tensor("x", ("B", "T", 8))
    y = m(x)
    assert str(y.shape) == "(B, T, 8)"
    f = gc.nn.function(y)
    for T in (1, 3, 6):
        X = RNG.standard_normal((2, T, 8)).astype(np.float32)
        np.testing.assert_allclose(f(x=X), np_attention(m, X.astype(np.float64)),
                                   rtol=1e-4, atol=1e-5)


def test_q_k_and_v_come_from_one_packed_projection():
    gc.nn.manual_seed(6)
    m = gc.nn.MultiHeadSelfAttention(8, 2)
    assert [n for n, _ in m.named_parameters()] == ["qkv.weight", "qkv.bias", "out.weight",
                                                     "out.bias"]
    assert m.qkv.weight.shape == (8, 24)
    x = gc.tensor("x", ("B", 4, 8))
    loss = m(x).sum()
    gw = gc.grad(loss, [m.qkv.weight.node])[0]
    # the three slices' cotangents join into one concat: one matmul for the packed weight
    nodes = gc.Graph.of([gw]).nodes()
    assert sum(n.op == "concat" for n in nodes) == 1 and not any(n.op == "pad" for n in nodes)


def test_attention_gradients_match_finite_differences():
    gc.nn.manual_seed(2)
    m = gc.nn.MultiHeadSelfAttention(4, 2)
    x = gc.tensor("x", (2, 3, 4))
    r = RNG.standard_normal((2, 3, 4))
    y = (m(x) * r).sum()
    params = [m.qkv.weight, m.qkv.bias, m.out.weight]
    feeds = {p.node.name: p.value for p in m.parameters()}
    feeds["x"] = RNG.standard_normal((2, 3, 4))
    gc.check_grad(y, [p.node for p in params] + [x], feeds, rtol=1e-4, atol=1e-6)


def test_transformer_block_matches_numpy_and_keeps_the_shape():
    gc.nn.manual_seed(3)
    blk = gc.nn.TransformerBlock(8, 2, mlp_ratio=2)
    for p in (blk.ln1.weight, blk.ln1.bias, blk.ln2.weight, blk.ln2.bias):
        p.value = RNG.standard_normal(8)  # not the identity, so the test sees them
    names = [n for n, _ in blk.named_parameters()]
    assert names[:2] == ["ln1.weight", "ln1.bias"] and "mlp.2.weight" in names
    x = gc.tensor("x", ("B", 4, 8))
    y = blk(x)
    assert str(y.shape) == "(B, 4, 8)"
    X = RNG.standard_normal((2, 4, 8)).astype(np.float32)
    np.testing.assert_allclose(gc.nn.function(y)(x=X), np_block(blk, X.astype(np.float64)),
                               rtol=1e-4, atol=1e-4)


def test_transformer_block_gradients_match_finite_differences():
    gc.nn.manual_seed(4)
    blk = gc.nn.TransformerBlock(4, 2, mlp_ratio=1)
    x = gc.tensor("x", (1, 3, 4))
    y = (blk(x) * RNG.standard_normal((1, 3, 4))).sum()
    feeds = {p.node.name: p.value for p in blk.parameters()}
    feeds["x"] = RNG.standard_normal((1, 3, 4))
    wrt = [blk.ln1.weight.node, blk.attn.qkv.weight.node, blk.mlp[0].weight.node, x]
    gc.check_grad(y, wrt, feeds, rtol=1e-4, atol=1e-6)


def test_attention_errors_are_clear():
    with pytest.raises(ValueError, match="embed_dim 6 must be a multiple of num_heads 4"):
        gc.nn.MultiHeadSelfAttention(6, 4)
    m = gc.nn.MultiHeadSelfAttention(4, 2)
    with pytest.raises(gc.ShapeError, match=r"expected \(batch, time, 4\)"):
        m(gc.tensor("x", (2, 3, 3, 4)))
    # with or without a mask, T may stay symbolic
    for causal in (True, False):
        y = gc.nn.MultiHeadSelfAttention(4, 2, causal=causal)(gc.tensor("x", ("B", "T", 4)))
        assert str(y.shape) == "(B, T, 4)"
