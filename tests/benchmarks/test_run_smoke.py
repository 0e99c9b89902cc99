"""benchmarks/run.py runs and prints its one table. A smoke test: it checks the table's shape,
never a timing (the numbers of a shared test machine say nothing)."""
from __future__ import annotations

import os
import subprocess
import sys

RUN = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "run.py")


def test_the_matmul_block_prints_a_table_with_a_gflops_column():
    # n=64 keeps it to a few seconds once the product's module is in the compile cache; no
    # waiting for a quiet machine
    done = subprocess.run([sys.executable, RUN, "--quick", "--only", "matmul", "--sizes", "64",
                           "--wait-budget", "0"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("block"))
    assert "GFLOP/s" in header.split() and "vs NumPy" in header
    rows = [line for line in lines if line.startswith("matmul")]
    assert len(rows) == 5 and all("n=64" in r for r in rows)  # NumPy, torch, three graphc
    assert any("graphc auto" in r for r in rows)
    assert "note 1: matmul n=64, auto ran:" in done.stdout
