"""Counter-based random numbers and dropout: random_uniform's bits against a plain-Python
SplitMix64 (what any backend must reproduce), its distribution, dropout's scaling and
gradient, streams, gc.nn.Dropout in train and eval mode, and gc.train_step feeding a fresh
seed per step. Mirrors graphc/ops/random.py and dropout in graphc/functional.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.node import make
from graphc.ops.random import uniform

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64_py(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def uniform_py(seed: int, stream: int, i: int) -> float:
    key = mix64_py((seed & M64) ^ ((stream * GOLDEN) & M64))
    return (mix64_py((key + (i + 1) * GOLDEN) & M64) >> 40) / 2 ** 24


@pytest.mark.parametrize("seed,stream", [(0, 0), (1, 0), (-7, 3), (2 ** 62 + 5, 2 ** 40)])
def test_random_uniform_is_splitmix64_bit_for_bit(seed, stream):
    s = gc.tensor("s", (), "int64")
    x = gc.tensor("x", ("B", 5))
    u = make("random_uniform", (s,), shape=x.shape, stream=stream)
    assert u.dtype == "float32" and u.op == "random_uniform"
    got = gc.compile(u, inputs=[s, x])(s=np.int64(seed), x=np.zeros((3, 5), np.float32))
    want = np.array([uniform_py(seed, stream, i) for i in range(15)], np.float32).reshape(3, 5)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(uniform(seed, stream, (3, 5)), want)


def test_random_uniform_is_uniform_and_streams_are_independent():
    u, v = uniform(123, 0, (200_000,)), uniform(123, 1, (200_000,))
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
    assert abs(np.corrcoef(u, uniform(124, 0, (200_000,)))[0, 1]) < 0.01
    assert np.histogram(u, bins=10, range=(0, 1))[0].min() > 19_000


def test_dropout_scales_what_it_keeps_and_its_gradient_is_the_same_mask():
    x, seed = gc.tensor("x", ("B", 1000), "float64"), gc.tensor("seed", (), "int64")
    y = gc.dropout(x, 0.25, seed)
    (g,) = gc.grad(gc.sum(y * 3.0), [x])
    f = gc.compile([y, g])
    X = np.random.default_rng(0).uniform(1, 2, (4, 1000))
    out, grad = f(x=X, seed=np.int64(42))
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(out[kept], X[kept] / 0.75)
    np.testing.assert_allclose(grad, np.where(kept, 3.0 / 0.75, 0.0))
    again, _ = f(x=X, seed=np.int64(42))
    other, _ = f(x=X, seed=np.int64(43))
    np.testing.assert_array_equal(again, out)            # the same seed, the same mask
    assert (other != 0).tolist() != kept.tolist()        # a new seed, a new mask
    gc.check_grad(gc.sum(gc.tanh(gc.dropout(x, 0.5, seed))), [x],
                  {"x": X[:2], "seed": np.int64(1)})


def test_dropout_edge_probabilities_and_errors():
    x, seed = gc.tensor("x", (3,)), gc.tensor("seed", (), "int64")
    assert gc.dropout(x, 0.0, seed) is x
    zero = gc.dropout(x, 1.0, seed)
    np.testing.assert_array_equal(gc.compile(zero, inputs=[x])(x=np.ones(3, np.float32)), 0)
    for p in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="p must be a probability"):
            gc.dropout(x, p, seed)
    with pytest.raises(gc.ShapeError, match="the seed must be an integer scalar"):
        gc.dropout(x, 0.5, gc.tensor("s", (2,), "int64"))


def test_nn_dropout_obeys_train_and_eval():
    gc.nn.manual_seed(0)
    model = gc.nn.Sequential(gc.nn.Linear(4, 64), gc.nn.Dropout(0.5), gc.nn.ReLU())
    assert model.training and model[1].training
    x = gc.tensor("x", ("B", 4))
    train_graph = model(x)
    assert any(n.op == "random_uniform" for n in gc.Graph.of([train_graph]).nodes())
    model.eval()
    assert not model.training and not model[1].training
    eval_graph = model(x)
    assert not any(n.op == "random_uniform" for n in gc.Graph.of([eval_graph]).nodes())
    f = gc.nn.function(train_graph)  # a training-mode graph: the seed is fed for you
    assert f.input_names == ["x"]
    X = np.ones((2, 4), np.float32)
    a, b = f(x=X), f(x=X)
    assert (a != b).any()  # a fresh mask per call
    assert model.train() is model and model[1].training
    assert "Dropout(p=0.5)" in repr(model)


def test_two_dropout_layers_draw_different_masks():
    gc.nn.manual_seed(1)
    d1, d2 = gc.nn.Dropout(0.5), gc.nn.Dropout(0.5)
    assert d1.stream != d2.stream
    x = gc.tensor("x", (1, 256))
    f = gc.nn.function([d1(x), d2(x)])
    a, b = f(x=np.ones((1, 256), np.float32))
    assert (a != b).any()


def test_train_step_feeds_a_fresh_seed_each_step_reproducibly():
    def run():
        gc.nn.manual_seed(3)
        model = gc.nn.Sequential(gc.nn.Linear(8, 32), gc.nn.ReLU(), gc.nn.Dropout(0.3),
                                 gc.nn.Linear(32, 2))
        x, y = gc.tensor("x", ("B", 8)), gc.tensor("y", ("B",), "int64")
        step = gc.train_step(gc.cross_entropy(model(x), y),
                             gc.optim.SGD(model.parameters(), lr=0.0))
        assert step.batch_inputs == ["x", "y"]  # the seed is not the caller's to feed
        X = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
        Y = np.arange(16) % 2
        return [step(x=X, y=Y) for _ in range(4)]
    losses = run()
    assert len(set(losses)) == 4      # lr 0: only the mask changes from step to step
    assert run() == losses            # gc.nn.manual_seed makes it reproducible
