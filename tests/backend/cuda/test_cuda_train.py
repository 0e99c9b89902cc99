"""gc.train_step(..., backend="cuda"): parameters and optimizer state stay in device memory
across steps and come back to the host only when read; the losses and the trained values
equal the reference backend's, step for step; a value set on the host is used by the next
step; gc.save sees the newest values."""
import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(4)
X = RNG.standard_normal((6, 5)).astype(np.float32)
Y = RNG.integers(0, 3, 6)


def mlp_step(backend, optimizer=gc.optim.Adam, **opt):
    gc.nn.manual_seed(1)
    model = gc.nn.Sequential(gc.nn.Linear(5, 8), gc.nn.ReLU(), gc.nn.Linear(8, 3))
    x, y = gc.tensor("x", ("B", 5)), gc.tensor("y", ("B",), dtype="int64")
    opt_ = optimizer(model.parameters(), **opt)
    loss = gc.cross_entropy(model(x), y)
    return model, opt_, gc.train_step(loss, opt_, backend=backend)


def assert_close(a, b):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("optimizer,opt", [(gc.optim.Adam, dict(lr=0.05)),
                                           (gc.optim.SGD, dict(lr=0.1, momentum=0.9))],
                         ids=["adam", "sgd-momentum"])
def test_training_on_the_device_equals_the_reference_step_for_step(optimizer, opt):
    ref_model, ref_opt, ref = mlp_step("reference", optimizer, **opt)
    model, opt_, dev = mlp_step("cuda", optimizer, **opt)
    for batch in (6, 4, 6):  # a new batch size between steps
        assert_close(dev(x=X[:batch], y=Y[:batch]), ref(x=X[:batch], y=Y[:batch]))
    for (name, w), (_, g) in zip(ref_model.state_dict().items(), model.state_dict().items()):
        assert_close(g, w)
    for (k, w), (_, g) in zip(ref_opt.state_dict().items(), opt_.state_dict().items()):
        assert_close(g, w)


def test_values_come_back_to_the_host_only_when_read():
    model, opt, step = mlp_step("cuda")
    p = model.parameters()[0]
    host = p._value  # the array that Parameter.value hands out
    before = host.copy()
    step(x=X, y=Y)
    step(x=X, y=Y)
    np.testing.assert_array_equal(host, before)  # not copied back after each step
    assert not p.held_by(None)
    new = p.value  # reading it brings the newest value back, into the same array
    assert new is host and not np.array_equal(new, before) and p.held_by(None)
    assert float(opt.state["step"]) == 2.0


def test_a_value_set_on_the_host_is_used_by_the_next_step():
    ref_model, _, ref = mlp_step("reference", gc.optim.SGD, lr=0.1)
    model, _, dev = mlp_step("cuda", gc.optim.SGD, lr=0.1)
    assert_close(dev(x=X, y=Y), ref(x=X, y=Y))
    for m in (ref_model, model):
        m.parameters()[0].value = np.zeros((5, 8), np.float32)
        m.parameters()[1].value[:] += 1.0  # in place, through the array read from .value
    assert_close(dev(x=X, y=Y), ref(x=X, y=Y))
    assert_close(model.parameters()[1].value, ref_model.parameters()[1].value)


def test_save_and_load_see_the_newest_values(tmp_path):
    model, opt, step = mlp_step("cuda")
    step(x=X, y=Y)
    path = gc.save(tmp_path / "ckpt.npz", model, opt)
    saved = np.load(path)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(saved["model/" + name], p.value)
    after_one = step(x=X, y=Y)
    gc.load(path, model, opt)  # back to the state after one step: the next step repeats
    assert step(x=X, y=Y) == pytest.approx(after_one, rel=1e-6)
