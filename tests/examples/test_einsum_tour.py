"""examples/einsum_tour.py as a user runs it: every graph checked against numpy, drawn, costed."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from user_env import user_env  # the user's default backend, not the suite's

REPO = Path(__file__).resolve().parents[2]


def test_the_tour_checks_draws_and_counts_every_graph(tmp_path):
    env = user_env(GRAPHC_OUT=str(tmp_path))
    done = subprocess.run([sys.executable, "examples/einsum_tour.py", "--backend", "reference"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "MISMATCH" not in out
    assert out.count("matches numpy") == 9
    # the symbolic FLOP counts of the lecture, each checked against its formula
    assert "OK: FLOPs of XW = 2*b*d*e" in out
    assert "OK: FLOPs of the batched product = 2*b*i*j*k" in out
    assert "Y1 (n, s, h, 30)" in out and "Y2 (n, s, h, 40)" in out
    assert "OK: backward contraction FLOPs (dL/dw and dL/dx) = 4*b*d*e" in out
    # at the lecture's size, 2*128*4096*30*20*30 + 128*4096*30*30 FLOPs for m1
    assert f"{2 * 128 * 4096 * 30 * 20 * 30 + 128 * 4096 * 30 * 30:.3e}" in out
    folder = tmp_path / "einsum_tour"
    for name in ("1_matmul_einsum", "2_batched_matmul", "3_linear_4d", "4_stacked_linears",
                 "5_linear_backward"):
        assert (folder / f"{name}.dot").read_text().startswith("digraph"), name
        assert b"<svg" in (folder / f"{name}.svg").read_bytes()[:1000], name  # Graphviz or not
        assert f"drew {name}.svg, {name}.dot" in out
    backward = (folder / "5_linear_backward.dot").read_text()
    assert "#fde2c4" in backward and "einsum be,bd->de" in backward


def test_the_readme_command_draws_the_backward_graph_once(tmp_path, monkeypatch, capsys):
    """linear_cross_entropy used to return its gradients too, so --grad drew the backward
    graph twice (51 nodes, 38 backward)."""
    from graphc.cli import main
    monkeypatch.chdir(REPO)
    assert main(["dot", "examples/einsum_tour.py:linear_cross_entropy", "--grad", "-o",
                 str(tmp_path / "graph.dot")]) == 0
    out = capsys.readouterr().out
    nodes, backward = map(int, re.search(r"\((\d+) nodes, (\d+) of them backward\)",
                                         out).groups())
    assert backward < nodes - backward + 10 and nodes < 40, out
    text = (tmp_path / "graph.dot").read_text()
    for name in ("loss", "grad x", "grad w", "grad bias"):
        assert f'[label="{name}", shape=plaintext]' in text
    assert text.count("einsum be,bd->de") == 1  # dloss/dw, once


def test_the_tours_graphs_are_cli_targets(tmp_path, monkeypatch, capsys):
    from graphc.cli import main
    monkeypatch.chdir(REPO)
    for obj in ("matmul_as_einsum", "batched_matmul", "linear_4d", "stacked_linears",
                "linear_cross_entropy", "linear_cross_entropy_with_grads"):
        assert main(["dot", f"examples/einsum_tour.py:{obj}", "-o",
                     str(tmp_path / f"{obj}.dot")]) == 0
    assert main(["cost", "examples/einsum_tour.py:matmul_as_einsum", "--stage", "raw"]) == 0
    assert "2*b*d*e" in capsys.readouterr().out
