"""Checkpoints (graphc/checkpoint.py): .npz without pickle, atomic writes, resuming training
exactly, and clear errors for wrong names and shapes."""
import os

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(0)


def setup(seed=0, hidden=8):
    gc.nn.manual_seed(seed)
    model = gc.nn.Sequential(gc.nn.Linear(3, hidden), gc.nn.ReLU(), gc.nn.Linear(hidden, 1))
    x, y = gc.tensor("x", ("B", 3)), gc.tensor("y", ("B", 1))
    opt = gc.optim.Adam(model.parameters(), lr=0.01)
    return model, opt, gc.train_step(gc.nn.MSELoss()(model(x), y), opt)


BATCHES = [(RNG.standard_normal((16, 3)).astype(np.float32),
            RNG.standard_normal((16, 1)).astype(np.float32)) for _ in range(6)]


def test_round_trip_resumes_training_exactly(tmp_path):
    model, opt, step = setup()
    for X, Y in BATCHES[:3]:
        step(x=X, y=Y)
    path = gc.save(tmp_path / "ckpt.npz", model, opt)
    assert path == str(tmp_path / "ckpt.npz")
    rest = [step(x=X, y=Y) for X, Y in BATCHES[3:]]

    model2, opt2, step2 = setup(seed=99)  # other initial values, fresh optimizer
    gc.load(path, model2, opt2)
    assert float(opt2.state["step"]) == 3
    assert [step2(x=X, y=Y) for X, Y in BATCHES[3:]] == rest
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.value, q.value)


def test_the_file_is_plain_npz_readable_without_pickle(tmp_path):
    model, opt, _ = setup()
    gc.save(tmp_path / "c.npz", model, opt)
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:
        keys = set(z.files)
        np.testing.assert_array_equal(z["model/0.weight"], model[0].weight.value)
    assert {"model/2.bias", "optimizer/step", "optimizer/exp_avg.3", "optimizer/lr"} <= keys
    gc.save(tmp_path / "weights_only", model)  # the exact path, no suffix added
    gc.load(tmp_path / "weights_only", model)
    gc.load(tmp_path / "c.npz", model)  # optimizer entries are ignored without an optimizer


def test_a_failure_mid_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    model, opt, _ = setup()
    path = tmp_path / "ckpt.npz"
    gc.save(path, model, opt)
    good = path.read_bytes()
    model[0].weight.value = np.zeros((3, 8))

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")  # some bytes reach the disk, then we die
        raise KeyboardInterrupt("power cut")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        gc.save(path, model, opt)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # the temporary file is gone too
    monkeypatch.undo()
    gc.load(path, model, opt)
    assert np.abs(model[0].weight.value).sum() > 0


def test_wrong_names_or_shapes_are_errors_naming_the_entry(tmp_path):
    model, opt, _ = setup()
    gc.save(tmp_path / "small.npz", model, opt)
    bigger, bigger_opt, _ = setup(hidden=16)
    before = bigger.state_dict()
    with pytest.raises(ValueError, match=r"small.npz.*'0.weight' has shape \(3, 8\).*\(3, 16\)"):
        gc.load(tmp_path / "small.npz", bigger, bigger_opt)
    for k, v in bigger.state_dict().items():
        np.testing.assert_array_equal(v, before[k])

    other = gc.nn.Sequential(gc.nn.Linear(3, 8), gc.nn.ReLU(), gc.nn.Linear(8, 1),
                             gc.nn.Linear(1, 1))
    with pytest.raises(ValueError, match=r"missing entries \['3.weight', '3.bias'\]"):
        gc.load(tmp_path / "small.npz", other)

    gc.save(tmp_path / "no_opt.npz", model)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        gc.load(tmp_path / "no_opt.npz", model, opt)

    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match=r"\['weights'\].*not a graphc checkpoint"):
        gc.load(tmp_path / "foreign.npz", model)


def test_an_optimizer_mismatch_restores_the_model(tmp_path):
    model, opt, _ = setup()
    gc.save(tmp_path / "c.npz", model, opt)
    model2, _, _ = setup(seed=5)
    before = model2.state_dict()
    sgd = gc.optim.SGD(model2.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unexpected entries"):
        gc.load(tmp_path / "c.npz", model2, sgd)
    for k, v in model2.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_pickled_or_unreadable_files_are_refused(tmp_path):
    model, _, _ = setup()
    np.savez(tmp_path / "evil.npz", **{"model/0.weight": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="not a readable .npz checkpoint"):
        gc.load(tmp_path / "evil.npz", model)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        gc.load(tmp_path / "junk.npz", model)
    with pytest.raises(FileNotFoundError):
        gc.load(tmp_path / "missing.npz", model)
    with pytest.raises(TypeError, match="gc.nn.Module"):
        gc.save(tmp_path / "x.npz", {"w": np.ones(2)})


def test_truncated_empty_or_single_array_files_are_clear_errors(tmp_path):
    """A copy cut short is the corrupt file users actually meet: before, np.load's BadZipFile
    or EOFError escaped, naming neither the file nor what was wrong."""
    model, opt, _ = setup()
    good = (tmp_path / "good.npz")
    gc.save(good, model, opt)
    data = good.read_bytes()
    (tmp_path / "half.npz").write_bytes(data[:len(data) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    with open(tmp_path / "array.npz", "wb") as f:
        np.save(f, np.ones(3))  # a .npy under a .npz name
    before = model.state_dict()
    for name in ("half.npz", "empty.npz", "array.npz"):
        with pytest.raises(ValueError, match=rf"load: '.*{name}' is not a readable .npz"):
            gc.load(tmp_path / name, model, opt)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_saving_to_a_missing_folder_or_a_folder_names_what_was_given(tmp_path):
    model, _, _ = setup()
    with pytest.raises(FileNotFoundError, match=r"save: the directory '.*nowhere' of"):
        gc.save(tmp_path / "nowhere" / "c.npz", model)
    with pytest.raises(IsADirectoryError, match=r"is a directory; give a file name"):
        gc.save(tmp_path, model)
    assert os.listdir(tmp_path) == []  # no temporary file left behind


def test_a_bad_optimizer_entry_changes_nothing(tmp_path):
    """Every entry's dtype is checked before any is copied: a string array in the second
    buffer used to fail inside np.copyto after the first buffer was already overwritten."""
    model, opt, step = setup()
    step(x=BATCHES[0][0], y=BATCHES[0][1])
    gc.save(tmp_path / "c.npz", model, opt)
    with np.load(tmp_path / "c.npz") as z:
        entries = dict(z)
    before = opt.state_dict()
    for key, bad in (("optimizer/exp_avg_sq.3", np.array(["a"])),
                     ("optimizer/lr", np.array([0.1, 0.2]))):
        np.savez(tmp_path / "bad.npz", **dict(entries, **{
            "optimizer/exp_avg.0": np.full_like(entries["optimizer/exp_avg.0"], 7.0),
            key: bad}))
        with pytest.raises(ValueError, match=key.split("/")[1]):
            gc.load(tmp_path / "bad.npz", model, opt)
        for k, v in opt.state_dict().items():
            np.testing.assert_array_equal(v, before[k])
