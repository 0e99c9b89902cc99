"""Checkpoints: a model's parameters (and an optimizer's state) in one .npz, without pickle.

Entries are "model/<parameter name>" (e.g. "model/fc1.weight") and "optimizer/<key>"
(e.g. "optimizer/exp_avg.0", "optimizer/step", "optimizer/lr"); any NumPy can read them:
np.load(path)["model/fc1.weight"].

Saving writes a temporary file in the same directory and renames it over the target
(os.replace is atomic on POSIX and Windows), so a crash mid-save leaves the previous
checkpoint intact. Loading checks every name and shape before changing anything.
"""
from __future__ import annotations

import os
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
    directory = os.path.dirname(os.path.abspath(path))
    # Checked here so the error names what the user gave, not the temporary file's name.
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: {path!r} is a directory; give a file name, e.g. "
                                f"{os.path.join(path, 'checkpoint.npz')!r}")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: the directory {directory!r} of {path!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


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
            raise ValueError("it holds a single array, not named entries")
        with archive:
            arrays = {k: archive[k] for k in archive.files}
    # A truncated or empty file (a copy cut short) raises BadZipFile or EOFError from np.load.
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"load: {path!r} is not a readable .npz checkpoint ({e})") from None
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
