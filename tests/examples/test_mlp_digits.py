"""examples/mlp_digits.py as a user runs it (a subprocess from the repository root): the
short run's output and files, and the full run's >= 97% test accuracy."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc

from user_env import user_env  # the user's default backend, not the suite's

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path, *args):
    env = user_env(GRAPHC_OUT=str(tmp_path), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "examples/mlp_digits.py", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def accuracy(out: str) -> float:
    return float(re.search(r"test accuracy: ([\d.]+)% \((\d+)/360", out).group(1))


def test_a_short_run_prints_progress_and_writes_its_files(tmp_path):
    done = run(tmp_path, "--epochs", "2", "--backend", "reference")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1437 training and 360 test images" in out
    assert "MLP(" in out and "(fc1): Linear(in_features=64, out_features=128" in out
    assert re.search(r"one graph of \d+ nodes, \d+ after optimization", out)
    assert "46/46 loss" in out and "epoch 2/2" in out                # the progress bar
    assert re.search(r"step time: [\d.]+ ms median over 46 steps", out)
    # the bar's last ms/step is the summary's median
    bar_ms = re.findall(r"46/46 loss [\d.]+ ([\d.]+) ms/step", out)[-1]
    assert bar_ms == re.search(r"step time: ([\d.]+) ms median", out).group(1)
    assert accuracy(out) > 80  # two epochs already learn most digits
    assert re.search(r"(ok|XX) \d \(is \d\)", out)                    # the sample row
    folder = tmp_path / "mlp_digits"
    assert (folder / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (folder / "train_graph.svg").read_bytes()[:1000]
    dot = (folder / "train_graph.dot").read_text()
    assert "input fc1_weight" in dot and "#fde2c4" in dot             # forward + backward
    model = gc.nn.Module()
    model.fc1, model.fc2 = gc.nn.Linear(64, 128), gc.nn.Linear(128, 10)
    gc.load(folder / "checkpoint.npz", model)                        # a usable checkpoint
    assert np.abs(model.fc2.weight.value).sum() > 0


def test_the_training_graph_is_a_cli_target(monkeypatch, capsys, tmp_path):
    from graphc.cli import main
    monkeypatch.chdir(REPO)
    target = "examples/mlp_digits.py:training_graph"
    assert main(["dot", target, "-o", str(tmp_path / "mlp.dot")]) == 0
    text = (tmp_path / "mlp.dot").read_text()
    # fc1_weight, or fc1_weight_1 while another MLP's parameters are alive in this process
    assert re.search(r"input fc1_weight(_\d+)?\\n", text)
    assert re.search(r'label="grad fc2_bias(_\d+)?"', text)
    capsys.readouterr()
    assert main(["cost", target, "--dims", "B=64"]) == 0
    assert "matmul" in capsys.readouterr().out
    assert main(["explain", target]) == 0
    assert "fuse" in capsys.readouterr().out


@pytest.mark.slow
def test_the_full_run_reaches_97_percent_test_accuracy(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "690/690 loss" in done.stdout
    assert accuracy(done.stdout) >= 97.0


def test_an_unknown_backend_is_a_clear_error(tmp_path):
    done = run(tmp_path, "--backend", "no-such-backend")
    assert done.returncode == 2
    assert "backend 'no-such-backend' is not available here" in done.stderr
    assert "Traceback" not in done.stderr
