"""Checkpoints (graphc/checkpoint.py): .npz without pickle, atomic writes, resuming training
exactly, and clear errors for wrong names and shapes."""
import os
import signal
import subprocess
import sys
import textwrap

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
    with pytest.raises(ValueError, match="not a graphc checkpoint.*Python objects"):
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
        with pytest.raises(ValueError, match=rf"load: '.*{name}' is not a graphc checkpoint"):
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


def test_a_text_file_is_not_a_graphc_checkpoint(tmp_path):
    """np.load's own message for a text file talks about pickled data."""
    model, _, _ = setup()
    (tmp_path / "notes.txt").write_text("my training notes\n")
    with pytest.raises(ValueError, match=r"'.*notes.txt' is not a graphc checkpoint "
                                         r"\(gc.save writes .npz archives\): it is a text file"
                       ) as info:
        gc.load(tmp_path / "notes.txt", model)
    assert "pickle" not in str(info.value)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="not a graphc checkpoint.*the file is empty"):
        gc.load(tmp_path / "empty.npz", model)


# A save killed mid-write, as by kill -9: the child writes part of the archive, then kills
# itself, so its temporary file stays behind with its (now dead) process id in the name.
KILLED_MID_SAVE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import graphc as gc
    def die(file, **arrays):
        file.write(b"PK\\x03\\x04 part of an archive")
        file.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    np.savez = die
    gc.nn.manual_seed(0)
    gc.save(sys.argv[1], gc.nn.Linear(3, 2))
""")


def kill_a_save_midway(path):
    done = subprocess.run([sys.executable, "-c", KILLED_MID_SAVE, str(path)], timeout=120)
    assert done.returncode == -signal.SIGKILL


def test_the_next_save_sweeps_temporaries_of_killed_saves(tmp_path):
    model, opt, _ = setup()
    path = tmp_path / "ckpt.npz"
    gc.save(path, model, opt)
    good = path.read_bytes()
    for _ in range(3):
        kill_a_save_midway(path)
    # each save swept the one killed before it; the last killed one's temporary is left
    left = sorted(f for f in os.listdir(tmp_path) if f.endswith(".tmp"))
    assert len(left) == 1 and left[0].startswith(".ckpt.npz.")
    assert path.read_bytes() == good  # no data lost
    (tmp_path / "ckpt.npz.notes").write_text("not ours")  # other files are never touched
    (tmp_path / ".other.npz.1.abc.tmp").write_text("another checkpoint's temporary")
    gc.save(path, model, opt)
    assert sorted(os.listdir(tmp_path)) == [".other.npz.1.abc.tmp", "ckpt.npz",
                                            "ckpt.npz.notes"]
    gc.load(path, model, opt)


def test_a_temporary_of_a_live_save_is_kept(tmp_path):
    model, _, _ = setup()
    path = tmp_path / "ckpt.npz"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            busy = tmp_path / f".ckpt.npz.{other.pid}.x1y2z3.tmp"  # another process saving
            busy.write_bytes(b"PK half written")
            gc.save(path, model)
            assert busy.exists()
        finally:
            other.kill()
    other.wait()
    gc.save(path, model)
    assert not busy.exists()  # its writer is gone now


def test_saving_through_a_symlink_writes_the_file_it_points_at(tmp_path):
    model, opt, _ = setup()
    (tmp_path / "runs").mkdir()
    real = tmp_path / "runs" / "epoch3.npz"
    gc.save(real, model)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    before = real.read_bytes()
    assert gc.save(link, model, opt) == str(link)
    assert link.is_symlink() and os.readlink(link) == str(real)  # still a link ...
    assert real.read_bytes() != before                            # ... to the new file
    gc.load(link, model, opt)
    assert sorted(os.listdir(tmp_path / "runs")) == ["epoch3.npz"]  # its temporary was there
