"""gc.train_step (graphc/train.py): one compiled graph per step, in-place updates, the loss
going down, reproducibility from a seed, and clear errors for a wrong batch."""
import importlib

import numpy as np
import pytest

import graphc as gc

compile_module = importlib.import_module("graphc.compile")  # gc.compile is the function


def classifier(seed=0):
    gc.nn.manual_seed(seed)
    model = gc.nn.Sequential(gc.nn.Linear(2, 16), gc.nn.Tanh(), gc.nn.Linear(16, 2))
    x, y = gc.tensor("x", ("B", 2)), gc.tensor("y", ("B",), dtype="int64")
    return model, gc.nn.CrossEntropyLoss()(model(x), y)


def two_moons(n=128, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.stack([np.cos(t) + label, np.sin(t) * (1 - 2 * label) + 0.5 * label], 1)
    return (x + 0.05 * rng.standard_normal((n, 2))).astype(np.float32), label


def train(seed, steps=60, optimizer=gc.optim.Adam, **opt):
    model, loss = classifier(seed)
    step = gc.train_step(loss, optimizer(model.parameters(), **opt))
    X, Y = two_moons()
    return model, [step(x=X, y=Y) for _ in range(steps)]


def test_train_step_reduces_the_loss_and_updates_parameters_in_place():
    model, loss = classifier()
    arrays = [p.value for p in model.parameters()]
    before = [a.copy() for a in arrays]
    step = gc.train_step(loss, gc.optim.Adam(model.parameters(), lr=0.05))
    X, Y = two_moons()
    losses = [step(x=X, y=Y) for _ in range(80)]
    assert isinstance(losses[0], float) and losses[-1] < 0.3 * losses[0]
    for a, p, b in zip(arrays, model.parameters(), before):
        assert p.value is a and not np.array_equal(a, b)
    logits = gc.nn.function(model(gc.tensor("x", ("B", 2))))(x=X)
    assert (logits.argmax(1) == Y).mean() > 0.9


def test_the_step_is_one_graph_compiled_once(monkeypatch):
    calls = []
    real = compile_module.compile
    monkeypatch.setattr(compile_module, "compile",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    model, loss = classifier()
    step = gc.train_step(loss, gc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    X, Y = two_moons()
    for _ in range(3):
        step(x=X, y=Y)
    assert len(calls) == 1
    raw = step.compiled.raw_graph
    origins = {n.origin for n in raw.nodes()}
    assert origins == {"forward", "grad"}  # forward, backward and update in one graph
    assert len(raw.outputs) == 1 + 4 + 4  # loss, 4 new parameters, 4 momentum buffers
    assert step.batch_inputs == ["x", "y"] and len(step.grads) == 4


def test_same_seed_same_training_run():
    model_a, losses_a = train(seed=3, steps=10, lr=0.01)
    model_b, losses_b = train(seed=3, steps=10, lr=0.01)
    _, losses_c = train(seed=4, steps=10, lr=0.01)
    assert losses_a == losses_b and losses_a != losses_c
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_array_equal(p.value, q.value)


def test_train_step_equals_the_hand_written_loop():
    """What examples/linear_regression.py writes out by hand: compile(grad), then p -= lr*g."""
    model, loss = classifier(seed=5)
    params = model.parameters()
    grads = gc.compile([loss, *gc.grad(loss, [p.node for p in params])])
    values = [p.value.copy() for p in params]
    step = gc.train_step(loss, gc.optim.SGD(params, lr=0.2))
    X, Y = two_moons()
    for _ in range(4):
        feeds = {p.node.name: v for p, v in zip(params, values)}
        want_loss, *g = grads(x=X, y=Y, **feeds)
        got_loss = step(x=X, y=Y)
        values = [v - np.float32(0.2) * gv for v, gv in zip(values, g)]
        assert got_loss == pytest.approx(float(want_loss), rel=1e-6)
    for p, v in zip(params, values):
        np.testing.assert_allclose(p.value, v, rtol=1e-5, atol=1e-6)


def test_parameters_outside_the_optimizer_are_fed_but_not_updated():
    model, loss = classifier()
    first, last = model[0], model[2]
    frozen = first.weight.value.copy()
    step = gc.train_step(loss, gc.optim.SGD(last.parameters(), lr=0.1))
    X, Y = two_moons()
    before = last.weight.value.copy()
    step(x=X, y=Y)
    np.testing.assert_array_equal(first.weight.value, frozen)
    assert not np.array_equal(last.weight.value, before)


def test_unused_parameters_are_reported_and_decay_only():
    model, loss = classifier()
    spare = gc.nn.Parameter(np.ones(3))
    step = gc.train_step(loss, gc.optim.SGD(model.parameters() + [spare], lr=0.5,
                                            weight_decay=0.2))
    assert step.unused_parameters == [spare.name]
    step(**dict(zip(["x", "y"], two_moons())))
    np.testing.assert_allclose(spare.value, 1 - 0.5 * 0.2, rtol=1e-6)


def test_one_step_serves_every_batch_size():
    model, loss = classifier()
    step = gc.train_step(loss, gc.optim.SGD(model.parameters(), lr=0.1))
    X, Y = two_moons(64)
    assert np.isfinite(step(x=X[:5], y=Y[:5])) and np.isfinite(step(x=X, y=Y))


def test_wrong_batches_and_arguments_are_clear_errors():
    model, loss = classifier()
    step = gc.train_step(loss, gc.optim.SGD(model.parameters(), lr=0.1))
    X, Y = two_moons(8)
    with pytest.raises(TypeError, match=r"by name: step\(x=..., y=...\)"):
        step(X, Y)
    with pytest.raises(TypeError, match=r"'z' is not an input of the loss.*\['x', 'y'\]"):
        step(x=X, y=Y, z=X)
    name = model[0].weight.name
    with pytest.raises(TypeError, match=f"'{name}' is a parameter or optimizer state"):
        step(x=X, y=Y, **{name: model[0].weight.value})
    with pytest.raises(TypeError, match=r"missing batch input\(s\) \['y'\]"):
        step(x=X)
    with pytest.raises(gc.InputError, match="'x'"):
        step(x=X[:, :1], y=Y)
    with pytest.raises(gc.ShapeError, match="float scalar"):
        gc.train_step(model(gc.tensor("x", ("B", 2))), gc.optim.SGD(model.parameters(), lr=1))
    with pytest.raises(TypeError, match="gc.optim optimizer"):
        gc.train_step(loss, model.parameters())
    other = gc.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="depends on none of the optimizer's parameters"):
        gc.train_step(loss, gc.optim.SGD(other.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        gc.train_step(loss, gc.optim.SGD(model.parameters(), lr=0.1), backend="nope")
