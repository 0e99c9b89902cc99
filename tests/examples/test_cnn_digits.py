"""examples/cnn_digits.py as a user runs it (a subprocess from the repository root): the
short run's output and files, and the full run's >= 98% test accuracy in well under a
minute."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import graphc as gc

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))


def run(tmp_path, *args):
    env = dict(os.environ, GRAPHC_OUT=str(tmp_path), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "examples/cnn_digits.py", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def accuracy(out: str) -> float:
    return float(re.search(r"test accuracy: ([\d.]+)% \((\d+)/360", out).group(1))


def test_a_short_run_prints_progress_and_writes_its_files(tmp_path):
    done = run(tmp_path, "--epochs", "2", "--backend", "reference")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1437 training and 360 test images of 1x8x8 pixels" in out
    assert "(conv1): Conv2d(1, 16, kernel_size=(3, 3), stride=1, padding=1" in out
    assert "(drop): Dropout(p=0.25)" in out
    # each convolution is one contraction with its bias and relu fused in
    assert "each forward convolution is one kernel (einsum+add+relu, einsum+add+relu)" in out
    assert "90/90 loss" in out and "epoch 2/2" in out                 # the progress bar
    assert re.search(r"step time: [\d.]+ ms median over 90 steps", out)
    assert accuracy(out) > 80
    folder = tmp_path / "cnn_digits"
    assert (folder / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    dot = (folder / "train_graph.dot").read_text()
    assert "input conv1_weight" in dot and "#fde2c4" in dot           # forward + backward
    conv = (folder / "conv_graph.dot").read_text()
    assert "windows" in conv and "unwindows" in conv                  # and its col2im
    from cnn_digits import CNN
    model = CNN()
    gc.load(folder / "checkpoint.npz", model)                         # a usable checkpoint
    assert np.abs(model.conv2.weight.value).sum() > 0


def test_the_full_run_reaches_98_percent_test_accuracy(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "900/900 loss" in done.stdout
    assert accuracy(done.stdout) >= 98.0
    took = float(re.search(r"training took ([\d.]+) s", done.stdout).group(1))
    print(f"cnn_digits trained in {took:.1f} s")
