"""Layers (graphc/nn/layers.py): forward against NumPy, gradients against finite
differences, shapes like torch.nn (Linear on (*, in_features)), and clear shape errors."""
import math

import numpy as np
import pytest

import graphc as gc
from graphc.nn.layers import matmul_last_axis

RNG = np.random.default_rng(0)


def feeds_of(model, **data):
    """Every input a graph built from `model` needs: its parameters plus the data."""
    out = {p.node.name: p.value for p in model.parameters()}
    out.update(data)
    return out


def run(outputs, **data):
    """Compiled with gc.nn.function, which feeds the model's parameters itself."""
    return gc.nn.function(outputs)(**data)


# ---- Linear -------------------------------------------------------------------------------
def test_linear_is_xw_plus_b_with_weight_in_by_out():
    gc.nn.manual_seed(0)
    layer = gc.nn.Linear(5, 3)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (3,)
    bound = 1 / math.sqrt(5)
    assert np.abs(layer.weight.value).max() <= bound and np.abs(layer.bias.value).max() <= bound
    x = gc.tensor("x", ("B", 5))
    X = RNG.standard_normal((7, 5)).astype(np.float32)
    got = run(layer(x), x=X)
    np.testing.assert_allclose(got, X @ layer.weight.value + layer.bias.value, rtol=1e-5,
                               atol=1e-6)


def test_linear_without_bias_has_one_parameter():
    layer = gc.nn.Linear(4, 2, bias=False)
    assert [n for n, _ in layer.named_parameters()] == ["weight"] and layer.bias is None
    x = gc.tensor("x", (3, 4))
    X = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(run(layer(x), x=X), X @ layer.weight.value, rtol=1e-5)


def test_linear_takes_any_leading_shape_like_torch():
    layer = gc.nn.Linear(20, 30)
    big = layer(gc.tensor("x4", (128, 4096, 30, 20)))  # only built: 10^8 elements
    assert tuple(int(d) for d in big.shape) == (128, 4096, 30, 30)
    x = gc.tensor("x", ("N", "M", 30, 20))  # symbolic leading dims, run small
    y = layer(x)
    assert str(y.shape) == "(N, M, 30, 30)"
    X = RNG.standard_normal((2, 3, 30, 20)).astype(np.float32)
    want = X @ layer.weight.value + layer.bias.value
    np.testing.assert_allclose(run(y, x=X), want, rtol=1e-5, atol=1e-5)
    v = gc.tensor("v", (20,))  # a single vector, as torch
    vec = RNG.standard_normal(20).astype(np.float32)
    np.testing.assert_allclose(run(layer(v), v=vec),
                               vec @ layer.weight.value + layer.bias.value, rtol=1e-5, atol=1e-5)


def test_linear_on_many_leading_axes_is_one_2d_matmul():
    x, w = gc.tensor("x", ("N", "M", 20)), gc.tensor("w", (20, 30))
    y = matmul_last_axis(x, w)
    matmuls = [n for n in gc.Graph.of([y]).nodes() if n.op == "matmul"]
    assert len(matmuls) == 1 and matmuls[0].ndim == 2
    (gw,) = gc.grad(y.sum(), [w])  # the weight gradient is a matmul too, no batched sum
    ops = [n.op for n in gc.Graph.of([gw]).nodes()]
    assert ops.count("matmul") == 1 and "sum" not in ops


def test_linear_gradients_match_finite_differences():
    gc.nn.manual_seed(1)
    layer = gc.nn.Linear(4, 3)
    x = gc.tensor("x", (2, 5, 4))
    r = RNG.standard_normal((2, 5, 3))
    y = (layer(x) * r).sum()
    gc.check_grad(y, [layer.weight.node, layer.bias.node, x],
                  feeds_of(layer, x=RNG.standard_normal((2, 5, 4))))


def test_linear_rejects_a_wrong_last_axis_naming_the_layer():
    layer = gc.nn.Linear(4, 3)
    with pytest.raises(gc.ShapeError, match=r"Linear\(4, 3\).*last axis must be 4.*\(B, 5\)"):
        layer(gc.tensor("x", ("B", 5)))
    with pytest.raises(TypeError, match="Linear.*expected a graphc tensor.*ndarray"):
        layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match="Linear"):
        gc.nn.Linear(0, 3)


# ---- activations --------------------------------------------------------------------------
def _erf(a):
    return np.vectorize(math.erf)(a)


@pytest.mark.parametrize("module, reference", [
    (gc.nn.ReLU, lambda a: np.maximum(a, 0)),
    (gc.nn.Tanh, np.tanh),
    (gc.nn.Sigmoid, lambda a: 1 / (1 + np.exp(-a))),
    (gc.nn.GELU, lambda a: a / 2 * (1 + _erf(a / math.sqrt(2)))),
])
def test_activations_match_numpy(module, reference):
    m = module()
    assert list(m.parameters()) == []
    x = gc.tensor("x", ("B", 6))
    X = RNG.standard_normal((4, 6)).astype(np.float32) * 3
    np.testing.assert_allclose(gc.compile(m(x))(x=X), reference(X.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


# ---- LayerNorm ----------------------------------------------------------------------------
def np_layer_norm(x, w, b, axes, eps):
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def test_layer_norm_matches_numpy_and_starts_as_identity_affine():
    ln = gc.nn.LayerNorm(8)
    np.testing.assert_array_equal(ln.weight.value, np.ones(8))
    np.testing.assert_array_equal(ln.bias.value, np.zeros(8))
    ln.weight.value = RNG.standard_normal(8)
    ln.bias.value = RNG.standard_normal(8)
    x = gc.tensor("x", ("B", "T", 8))
    X = (RNG.standard_normal((2, 3, 8)) * 4 + 1).astype(np.float32)
    want = np_layer_norm(X.astype(np.float64), ln.weight.value, ln.bias.value, -1, 1e-5)
    np.testing.assert_allclose(run(ln(x), x=X), want, rtol=1e-4, atol=1e-5)


def test_layer_norm_over_two_axes_without_affine():
    ln = gc.nn.LayerNorm((3, 4), eps=1e-3, elementwise_affine=False)
    assert list(ln.parameters()) == []
    x = gc.tensor("x", (2, 3, 4))
    X = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    want = np_layer_norm(X.astype(np.float64), 1.0, 0.0, (1, 2), 1e-3)
    np.testing.assert_allclose(gc.compile(ln(x))(x=X), want, rtol=1e-4, atol=1e-5)


def test_layer_norm_gradients_match_finite_differences():
    ln = gc.nn.LayerNorm(5)
    ln.weight.value = RNG.standard_normal(5)
    ln.bias.value = RNG.standard_normal(5)
    x = gc.tensor("x", (3, 5))
    r = RNG.standard_normal((3, 5))
    y = (ln(x) * r).sum()
    gc.check_grad(y, [ln.weight.node, ln.bias.node, x],
                  feeds_of(ln, x=RNG.standard_normal((3, 5))), rtol=1e-4, atol=1e-6)


def test_layer_norm_rejects_the_wrong_normalized_shape():
    with pytest.raises(gc.ShapeError, match=r"LayerNorm.*\(4,\).*\(B, 5\)"):
        gc.nn.LayerNorm(4)(gc.tensor("x", ("B", 5)))
    with pytest.raises(ValueError, match="LayerNorm"):
        gc.nn.LayerNorm(0)


# ---- Embedding ----------------------------------------------------------------------------
def test_embedding_looks_up_rows_and_gets_row_gradients():
    gc.nn.manual_seed(0)
    emb = gc.nn.Embedding(10, 4)
    ids = gc.tensor("ids", ("B", "T"), dtype="int64")
    I = np.array([[1, 3, 3], [9, 0, 1]])
    out = emb(ids)
    assert str(out.shape) == "(B, T, 4)"
    np.testing.assert_allclose(run(out, ids=I), emb.weight.value[I], rtol=1e-6)
    (g,) = gc.grad(out.sum(), [emb.weight.node])
    counts = np.bincount(I.ravel(), minlength=10)[:, None] * np.ones((1, 4))
    np.testing.assert_allclose(run(g, ids=I), counts, rtol=1e-6)


def test_embedding_rejects_float_ids_and_out_of_range_ids():
    emb = gc.nn.Embedding(5, 2)
    with pytest.raises(TypeError, match="Embedding: ids must be integers"):
        emb(gc.tensor("x", (3,)))
    ids = gc.tensor("ids", (3,), dtype="int64")
    with pytest.raises(gc.InputError, match="'ids'.*index 5 is out of range"):
        run(emb(ids), ids=np.array([0, 5, 1]))


# ---- losses -------------------------------------------------------------------------------
def test_losses_match_numpy():
    p, t = gc.tensor("p", ("B", 3)), gc.tensor("t", ("B", 3))
    P, T = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    mse = gc.compile(gc.nn.MSELoss()(p, t))(p=P, t=T)
    np.testing.assert_allclose(mse, ((P - T) ** 2).mean(), rtol=1e-5)
    summed = gc.compile(gc.nn.MSELoss(reduction="sum")(p, t))(p=P, t=T)
    np.testing.assert_allclose(summed, ((P - T) ** 2).sum(), rtol=1e-5)

    logits, labels = gc.tensor("z", ("B", "T", 5)), gc.tensor("y", ("B", "T"), dtype="int64")
    Z, Y = RNG.standard_normal((2, 3, 5)) * 3, RNG.integers(0, 5, (2, 3))
    ce = gc.compile(gc.nn.CrossEntropyLoss()(logits, labels))(z=Z, y=Y)
    logp = Z - np.log(np.exp(Z).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp, Y[..., None], -1).mean()
    np.testing.assert_allclose(ce, want, rtol=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        gc.nn.MSELoss(reduction="avg")(p, t)


def test_linear_on_a_4d_input_fuses_its_bias_into_the_matmul():
    # the bias is added to the flattened (rows, out) product before the reshape back, so the
    # epilogue pass can fold it into the contraction instead of a separate kernel
    gc.nn.manual_seed(0)
    layer = gc.nn.Linear(20, 30)
    x = gc.tensor("x", ("n", "s", 5, 20))
    y = layer(x)
    assert [str(d) for d in y.shape] == ["n", "s", "5", "30"]
    f = gc.nn.function(y)
    kinds = [n.op for n in f.compiled.graph.nodes() if n.op not in ("input", "reshape")]
    assert kinds == ["fused_contraction"], kinds
    X = np.random.default_rng(0).standard_normal((2, 3, 5, 20)).astype(np.float32)
    np.testing.assert_allclose(f(x=X), X @ layer.weight.value + layer.bias.value, rtol=1e-5,
                               atol=1e-6)


# ---- convolution, pooling, flatten, dropout -------------------------------------------------
def test_conv2d_layer_shapes_init_and_repr():
    gc.nn.manual_seed(0)
    conv = gc.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    assert conv.weight.shape == (8, 3, 3, 3) and conv.bias.shape == (8,)
    bound = 1 / np.sqrt(3 * 9)
    assert np.abs(conv.weight.value).max() <= bound and np.abs(conv.bias.value).max() <= bound
    y = conv(gc.tensor("x", ("N", 3, 9, 9)))
    assert str(y.shape) == "(N, 8, 5, 5)"
    assert repr(conv) == ("Conv2d(3, 8, kernel_size=(3, 3), stride=2, padding=1, bias=True)")
    assert gc.nn.Conv2d(1, 2, (2, 3), bias=False).bias is None
    with pytest.raises(gc.ShapeError, match=r"Conv2d\(3, 8\): expected an input of rank >= 4"):
        conv(gc.tensor("v", (3, 9, 9)))
    with pytest.raises(ValueError, match="sizes must be positive"):
        gc.nn.Conv2d(0, 2, 3)


def test_pooling_and_flatten_layers():
    x = gc.tensor("x", ("N", 4, 6, 6))
    assert str(gc.nn.MaxPool2d(2)(x).shape) == "(N, 4, 3, 3)"
    assert str(gc.nn.AvgPool2d(3, stride=1)(x).shape) == "(N, 4, 4, 4)"
    assert str(gc.nn.Flatten()(x).shape) == "(N, 144)"
    assert str(gc.nn.Flatten(0, 1)(x).shape) == "(4*N, 6, 6)"
    assert repr(gc.nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=None)"
    X = RNG.standard_normal((2, 4, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(gc.nn.Flatten()(x), x=X), X.reshape(2, -1))
    with pytest.raises(gc.ShapeError, match="start_dim 2 comes after end_dim 1"):
        gc.nn.Flatten(2, 1)(x)


def test_conv_layer_gradients_match_finite_differences():
    gc.nn.manual_seed(1)
    model = gc.nn.Sequential(gc.nn.Conv2d(1, 2, 3), gc.nn.Tanh(), gc.nn.AvgPool2d(2),
                             gc.nn.Flatten(), gc.nn.Linear(8, 1))
    x = gc.tensor("x", (2, 1, 6, 6))
    y = model(x).sum()
    feeds = {p.node.name: p.value.astype(np.float64) for p in model.parameters()}
    feeds["x"] = RNG.standard_normal((2, 1, 6, 6))
    gc.check_grad(y, [p.node for p in model.parameters()] + [x], feeds, rtol=1e-4, atol=1e-6)
