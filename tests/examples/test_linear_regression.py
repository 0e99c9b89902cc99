"""examples/linear_regression.py as a user runs it: a subprocess from the repository root."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from user_env import user_env  # the user's default backend, not the suite's

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path, *args):
    env = user_env(GRAPHC_OUT=str(tmp_path), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "examples/linear_regression.py", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def test_training_recovers_the_true_weights(tmp_path):
    done = run(tmp_path, "--steps", "300", "--backend", "reference")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "OK: recovered the true W and b" in out
    w_err = float(re.search(r"max \|W - W_true\| = ([\d.]+)", out).group(1))
    assert w_err < 0.05
    first, last = map(float, re.search(r"first step ([\d.]+), last step ([\d.]+)", out).groups())
    assert last < first / 50
    assert "300/300 loss" in out                                   # the progress bar
    bar_ms = re.findall(r"300/300 loss [\d.]+ ([\d.]+) ms/step", out)[-1]
    assert bar_ms == re.search(r"step time: ([\d.]+) ms median", out).group(1)
    assert re.search(r"one step costs .*B.* FLOPs", out)           # the symbolic cost
    folder = tmp_path / "linear_regression"
    assert (folder / "loss.png").read_bytes()[:4] == b"\x89PNG"
    dot = (folder / "graph.dot").read_text()
    assert "input W" in dot and "#fde2c4" in dot                   # forward + backward


@pytest.mark.slow
def test_too_few_steps_is_reported_as_a_failure(tmp_path):
    done = run(tmp_path, "--steps", "3")
    assert done.returncode == 1
    assert "FAILED: W is not within" in done.stdout and "3/3 loss" in done.stdout


def test_an_unknown_backend_is_a_clear_error(tmp_path):
    done = run(tmp_path, "--backend", "no-such-backend")
    assert done.returncode == 2
    assert "backend 'no-such-backend' is not available here" in done.stderr
    assert "reference" in done.stderr and "Traceback" not in done.stderr
