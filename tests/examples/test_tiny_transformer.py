"""examples/tiny_transformer.py as a user runs it: a short run's output and files, and the
full run's loss well below the unigram entropy of the text (about 25 s on 2 cores)."""
from __future__ import annotations

import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from user_env import user_env  # the user's default backend, not the suite's

REPO = Path(__file__).resolve().parents[2]
TEXT = REPO / "examples" / "data" / "fables.txt"


def run(tmp_path, *args):
    env = user_env(GRAPHC_OUT=str(tmp_path), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "examples/tiny_transformer.py", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def numbers(out: str):
    entropy = float(re.search(r"unigram entropy of the training text: ([\d.]+) nats", out)
                    .group(1))
    start, final, held_out = map(float, re.search(
        r"loss: ([\d.]+) at the start -> ([\d.]+) nats/char .*held-out text ([\d.]+)",
        out).groups())
    return entropy, start, final, held_out


def test_the_shipped_text_is_small_plain_and_its_entropy_is_printed(tmp_path):
    text = TEXT.read_text(encoding="utf-8")
    assert 10_000 <= len(text.encode()) <= 30_000 and text.isascii()
    done = run(tmp_path, "--steps", "15", "--sample", "40", "--backend", "reference")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    train = text[:int(0.9 * len(text))]
    p = [c / len(train) for c in Counter(train).values()]
    entropy, start, final, _ = numbers(out)
    assert entropy == round(-sum(q * math.log(q) for q in p), 3)
    assert start > entropy  # a fresh model knows less than the character counts
    assert "15/15 loss" in out and re.search(r"step time: [\d.]+ ms median over 15 steps", out)
    sample = re.search(r"---\n(.*)\n---", out, re.S).group(1)
    assert sample.startswith("THE ") and len(sample) == 44 and set(sample) <= set(text)
    folder = tmp_path / "tiny_transformer"
    assert (folder / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "input ids" in (folder / "train_graph.dot").read_text()
    train = (folder / "train_graph.svg").read_text()  # the step, a box per module
    assert "blocks.0 (backward)" in train and "unigram" not in train
    bar_ms = re.findall(r"15/15 loss [\d.]+ ([\d.]+) ms/step", out)[-1]
    assert bar_ms == re.search(r"step time: ([\d.]+) ms median", out).group(1)
    block = (folder / "block_graph.dot").read_text()
    assert "input h" in block and "#fde2c4" in block  # one block, forward + backward
    assert (folder / "sample.txt").read_text().strip() == sample


@pytest.mark.slow
def test_sampling_is_reproducible_from_the_seed(tmp_path):
    a = run(tmp_path, "--steps", "3", "--sample", "30", "--layers", "1")
    b = run(tmp_path, "--steps", "3", "--sample", "30", "--layers", "1")
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    sample = re.compile(r"---\n(.*)\n---", re.S)
    assert sample.search(a.stdout).group(1) == sample.search(b.stdout).group(1)
    assert numbers(a.stdout)[1:] == numbers(b.stdout)[1:]


@pytest.mark.slow
def test_the_full_run_goes_well_below_the_unigram_entropy(tmp_path):
    done = run(tmp_path, "--sample", "80")
    assert done.returncode == 0, done.stderr
    entropy, start, final, held_out = numbers(done.stdout)
    assert "600/600 loss" in done.stdout
    assert final < entropy - 1.0          # 3.08 -> about 1.5 nats/char
    assert held_out < entropy - 0.5       # and it generalizes: about 2.0 on unseen text
