"""Checkpoints: a model's parameters (and an optimizer's state) in one .npz, without pickle.

Entries are "model/<parameter name>" (e.g. "model/fc1.weight") and "optimizer/<key>"
(e.g. "optimizer/exp_avg.0", "optimizer/step", "optimizer/lr"); any NumPy can read them:
np.load(path)["model/fc1.weight"].

Saving writes a temporary file in the same directory and renames it over the target
(os.replace is atomic on POSIX and Windows), so a crash mid-save leaves the previous
checkpoint intact. A process killed mid-save (kill -9) cannot remove its temporary file; the
name carries the writer's process id, so the next save to the same path removes those whose
writer is gone, and never one a live process is still writing. A path that is a symbolic
link is saved through to the file it points at. Loading checks every name and shape before
changing anything.
"""
from __future__ import annotations

import os
import re
import tempfile
import zipfile

import numpy as np

from .nn.module import Module
from .optim.optimizer import Optimizer

MODEL, OPTIMIZER = "model/", "optimizer/"


def save(path, model: Module, optimizer: Optimizer | None = None) -> str:
    """Write model (and optimizer) state to `path` atomically; returns the path.

    >>> import graphc as gc, os, tempfile
    >>> model = gc.nn.Linear(2, 2); path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> gc.save(path, model) == path and gc.load(path, model) is None
    True
    """
    if not isinstance(model, Module):
        raise TypeError(f"save: model must be a gc.nn.Module, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"save: optimizer must be a gc.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    arrays = {MODEL + k: v for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({OPTIMIZER + k: v for k, v in optimizer.state_dict().items()})
    path = os.fspath(path)
    # A symbolic link stays a link: the file it points at is the one replaced.
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    # Checked here so the error names what the user gave, not the temporary file's name.
    if os.path.isdir(target):
        raise IsADirectoryError(f"save: {path!r} is a directory; give a file name, e.g. "
                                f"{os.path.join(path, 'checkpoint.npz')!r}")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: the directory {directory!r} of {path!r} does not exist")
    sweep_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temporary_prefix(target), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _temporary_prefix(target: str) -> str:
    """'.ckpt.npz.<pid>.': hidden, next to the target, and naming the process writing it."""
    return f".{os.path.basename(target)}.{os.getpid()}."


def sweep_stale_temporaries(target: str) -> list[str]:
    """Remove the temporary files that saves to `target` left behind when their process was
    killed; returns their paths. A temporary of a live process (another save in progress) is
    kept; so is every other file. Only temporaries are removed: checkpoints never are."""
    directory, base = os.path.split(target)
    pattern = re.compile(rf"^\.{re.escape(base)}\.(\d+)\.[^.]+\.tmp$")
    removed = []
    for name in os.listdir(directory):
        m = pattern.match(name)
        if m is None or _is_running(int(m.group(1))):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed.append(os.path.join(directory, name))
        except FileNotFoundError:  # another save swept it first
            pass
    return removed


def _is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # a save in another thread of this process
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


def load(path, model: Module, optimizer: Optimizer | None = None) -> None:
    """Load a checkpoint written by save into `model` (and `optimizer`), in place.

    Wrong or missing names and wrong shapes are a ValueError naming the entry; on any error
    neither the model nor the optimizer is changed. The optimizer's entries are ignored
    when no optimizer is given (loading weights for inference).
    """
    if not isinstance(model, Module):
        raise TypeError(f"load: model must be a gc.nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy array, not an archive
            raise ValueError("it holds a single NumPy array, not a checkpoint's named entries")
        with archive:
            arrays = {k: archive[k] for k in archive.files}
    # A truncated or empty file (a copy cut short) raises BadZipFile or EOFError from np.load.
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise ValueError(f"load: {path!r} is not a graphc checkpoint (gc.save writes .npz "
                         f"archives): {_what_is_wrong(path, e)}") from None
    strays = [k for k in arrays if not k.startswith((MODEL, OPTIMIZER))]
    if strays:
        raise ValueError(f"load: {path!r} has entries {strays} that are neither "
                         f"'{MODEL}...' nor '{OPTIMIZER}...': not a graphc checkpoint")
    model_state = {k[len(MODEL):]: v for k, v in arrays.items() if k.startswith(MODEL)}
    optim_state = {k[len(OPTIMIZER):]: v for k, v in arrays.items() if k.startswith(OPTIMIZER)}
    if optimizer is not None and not optim_state:
        raise ValueError(f"load: {path!r} holds no optimizer state (it was saved without "
                         f"an optimizer)")
    before = model.state_dict()
    try:
        model.load_state_dict(model_state)
        if optimizer is not None:
            optimizer.load_state_dict(optim_state)
    except ValueError as e:
        model.load_state_dict(before)
        raise ValueError(f"load {path!r}: {e}") from None


def _what_is_wrong(path: str, error: BaseException) -> str:
    """Why np.load refused the file, in the user's terms: NumPy's own message talks about
    pickled data when the file is simply not a .npz (a text file, say)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return "the file is empty"
    if head.startswith(b"PK"):
        if "pickle" in str(error):
            return "an entry holds Python objects (pickled data), which gc.load does not read"
        return f"the .npz archive is damaged or cut short ({error})"
    if head.startswith(b"\x93NUMPY"):
        return "it holds a single NumPy array (.npy), not a checkpoint's named entries"
    try:
        head.decode("utf-8")
        return "it is a text file"
    except UnicodeDecodeError:
        return "it is neither a .npz archive nor text"
