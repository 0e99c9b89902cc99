"""Layers against torch.nn itself (skipped where torch is not installed), in float64: the
same weights, the same inputs, outputs and gradients equal to rounding."""
import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
F64 = torch.float64


def t(a, grad=False):
    return torch.tensor(np.asarray(a, np.float64), dtype=F64, requires_grad=grad)


def set_linear(ours: gc.nn.Linear, theirs) -> None:
    """torch stores W transposed, (out, in); graphc as the lecture, (in, out)."""
    with torch.no_grad():
        theirs.weight.copy_(t(ours.weight.value.T))
        theirs.bias.copy_(t(ours.bias.value))


def run(outputs, **feeds):
    return gc.nn.function(outputs)(**feeds)


def test_layer_norm_over_two_axes():
    ln = gc.nn.LayerNorm((3, 4), eps=1e-3)
    ln.weight.value = RNG.standard_normal((3, 4))
    ln.bias.value = RNG.standard_normal((3, 4))
    X = 3 * RNG.standard_normal((2, 5, 3, 4)) + 1
    x = gc.tensor("x", (2, 5, 3, 4), dtype="float64")
    theirs = torch.nn.LayerNorm((3, 4), eps=1e-3, dtype=F64)
    with torch.no_grad():
        theirs.weight.copy_(t(ln.weight.value))
        theirs.bias.copy_(t(ln.bias.value))
    np.testing.assert_allclose(run(ln(x), x=X), theirs(t(X)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


def test_gelu_is_torch_default_exact_gelu():
    X = 4 * RNG.standard_normal(50)
    got = run(gc.nn.GELU()(gc.tensor("x", (50,), dtype="float64")), x=X)
    np.testing.assert_allclose(got, torch.nn.functional.gelu(t(X)).numpy(), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_the_class_axis_last(reduction):
    """(B, T, C) logits: torch wants the class axis at 1, graphc takes it last."""
    Z, Y = 5 * RNG.standard_normal((3, 4, 7)), RNG.integers(0, 7, (3, 4))
    z = gc.tensor("z", ("B", "T", 7), dtype="float64")
    y = gc.tensor("y", ("B", "T"), dtype="int64")
    loss = gc.nn.CrossEntropyLoss(reduction=reduction)(z, y)
    scalar = loss if reduction != "none" else loss.sum()
    got, grad = gc.compile([loss, gc.grad(scalar, [z])[0]])(z=Z, y=Y)
    tz = t(Z, grad=True)
    want = torch.nn.functional.cross_entropy(tz.permute(0, 2, 1), torch.tensor(Y),
                                             reduction=reduction)
    (want if reduction != "none" else want.sum()).backward()
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, tz.grad.numpy(), rtol=1e-12, atol=1e-14)


def torch_attention(ours: gc.nn.MultiHeadSelfAttention):
    D = ours.embed_dim
    theirs = torch.nn.MultiheadAttention(D, ours.num_heads, batch_first=True, dtype=F64)
    # both pack q, k, v into one projection (torch's weight is ours transposed)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(t(ours.qkv.weight.value.T))
        theirs.in_proj_bias.copy_(t(ours.qkv.bias.value))
    set_linear(ours.out, theirs.out_proj)
    return theirs


def float64_module(module):
    """Replace every parameter by a float64 one drawn here (gc.nn initializes float32)."""
    owners = dict(module.named_modules())
    for name, p in list(module.named_parameters()):
        owner, _, attr = name.rpartition(".")
        setattr(owners[owner], attr,
                gc.nn.Parameter(0.3 * RNG.standard_normal(p.shape), dtype="float64"))
    return module


def test_causal_multi_head_self_attention_and_its_gradients():
    B, T, D, H = 3, 6, 8, 2
    attn = float64_module(gc.nn.MultiHeadSelfAttention(D, H, causal=True))
    x = gc.tensor("x", (B, T, D), dtype="float64")
    out = attn(x)
    X, C = RNG.standard_normal((B, T, D)), RNG.standard_normal((B, T, D))
    scalar = (out * gc.constant(C, dtype="float64")).sum()
    params = dict(attn.named_parameters())
    grads = gc.grad(scalar, [x] + [p.node for p in params.values()])
    got = gc.nn.function([out, *grads])(x=X)

    theirs = torch_attention(attn)
    tx = t(X, grad=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=F64)
    want, _ = theirs(tx, tx, tx, attn_mask=mask, need_weights=False)
    (want * t(C)).sum().backward()
    np.testing.assert_allclose(got[0], want.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1], tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    # position 0 sees only itself: changing a later position leaves its output alone
    X2 = X.copy()
    X2[:, 1:] += 1.0
    np.testing.assert_allclose(run(out, x=X2)[:, 0], got[0][:, 0], rtol=1e-12, atol=1e-12)
    # weight gradients: torch's are transposed, q/k/v packed the same way
    gqkv = got[2 + list(params).index("qkv.weight")]
    np.testing.assert_allclose(gqkv.T, theirs.in_proj_weight.grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(got[2 + list(params).index("out.weight")].T,
                               theirs.out_proj.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_transformer_block_is_torch_pre_norm_encoder_layer_with_causal_mask():
    B, T, D, H = 2, 5, 8, 2
    block = float64_module(gc.nn.TransformerBlock(D, H, mlp_ratio=4, causal=True))
    theirs = torch.nn.TransformerEncoderLayer(D, H, dim_feedforward=4 * D, dropout=0.0,
                                              activation="gelu", batch_first=True,
                                              norm_first=True, dtype=F64)
    theirs.self_attn = torch_attention(block.attn)
    set_linear(block.mlp[0], theirs.linear1)
    set_linear(block.mlp[2], theirs.linear2)
    for ours, norm in ((block.ln1, theirs.norm1), (block.ln2, theirs.norm2)):
        with torch.no_grad():
            norm.weight.copy_(t(ours.weight.value))
            norm.bias.copy_(t(ours.bias.value))
    X = RNG.standard_normal((B, T, D))
    got = run(block(gc.tensor("x", ("B", T, D), dtype="float64")), x=X)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=F64)
    want = theirs.eval()(t(X), src_mask=mask, is_causal=True)
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_a_small_cnn_is_torchs_conv_pool_flatten_linear():
    ours = gc.nn.Sequential(gc.nn.Conv2d(2, 4, 3, padding=1), gc.nn.ReLU(), gc.nn.MaxPool2d(2),
                            gc.nn.Conv2d(4, 3, (2, 3), stride=(1, 2)), gc.nn.ReLU(),
                            gc.nn.AvgPool2d(2, 1), gc.nn.Flatten(), gc.nn.Linear(3, 5))
    ours = float64_module(ours)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1, dtype=F64), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 3, (2, 3), stride=(1, 2), dtype=F64), torch.nn.ReLU(),
        torch.nn.AvgPool2d(2, 1), torch.nn.Flatten(), torch.nn.Linear(3, 5, dtype=F64))
    with torch.no_grad():
        for k in (0, 3):
            theirs[k].weight.copy_(t(ours[k].weight.value))
            theirs[k].bias.copy_(t(ours[k].bias.value))
    set_linear(ours[7], theirs[7])
    x = gc.tensor("x", ("N", 2, 6, 12), dtype="float64")
    X = RNG.standard_normal((3, 2, 6, 12))
    out = ours(x)
    assert str(out.shape) == "(N, 5)"
    params = dict(ours.named_parameters())
    grads = gc.grad(gc.sum(gc.tanh(out)), [x] + [p.node for p in params.values()])
    got = gc.nn.function([out, *grads])(x=X)
    tx = t(X, grad=True)
    want = theirs(tx)
    torch.tanh(want).sum().backward()
    np.testing.assert_allclose(got[0], want.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1], tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for k, name in ((0, "0.weight"), (3, "3.bias")):
        mine = got[2 + list(params).index(name)]
        np.testing.assert_allclose(mine, getattr(theirs[k], name[2:]).grad.numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_dropout_in_eval_mode_is_the_identity_as_torch():
    drop = gc.nn.Dropout(0.4).eval()
    x = gc.tensor("x", (2, 3), dtype="float64")
    assert drop(x) is x
    theirs = torch.nn.Dropout(0.4).eval()
    X = RNG.standard_normal((2, 3))
    np.testing.assert_array_equal(theirs(t(X)).numpy(), gc.nn.function(drop(x) * 1.0)(x=X))
