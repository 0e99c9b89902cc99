"""docs/tutorial.md and docs/architecture.md run, block by block, in order (see doc_blocks)."""
from __future__ import annotations

import re

import pytest

from doc_blocks import DOCS, REPO, blocks, run_python, run_shell


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """The docs' commands run from a repository-like folder whose files land in tmp_path."""
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRAPHC_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def run_document(name: str) -> tuple[int, list]:
    path = DOCS / name
    namespace: dict = {"__name__": f"docs.{name}"}
    python_blocks, commands = 0, []
    for block in blocks(path):
        if block.skip:
            continue
        if block.lang == "python":
            run_python(block, namespace, path)
            python_blocks += 1
        elif block.lang == "bash":
            commands += run_shell(block, path)
    return python_blocks, commands


def test_tutorial_runs_in_order(workspace, capsys):
    python_blocks, commands = run_document("tutorial.md")
    assert python_blocks >= 15
    # the drawings the tutorial promises are there
    for f in ("batched_matmul.svg", "linear_backward.svg", "bmm.svg", "backward.svg",
              "m1.svg", "linreg.svg", "compiled.svg", "train_step.svg"):
        assert b"<svg" in (workspace / f).read_bytes()[:1000], f  # with Graphviz or without
        assert (workspace / f.replace(".svg", ".dot")).exists(), f
    kinds = {c[1] for c in commands}
    assert {"dot", "cost", "explain"} <= kinds
    out = capsys.readouterr().out
    assert "2*b*d*e" in out


def test_tutorial_follows_the_lecture():
    headings = "\n".join(re.findall(r"^##+ (.+)$", (DOCS / "tutorial.md").read_text(), re.M))
    order = ["Y = XW + b", "O(b·d·e)", "Tensors", "einsum", "batched matrix product",
             "nn.Linear", "Stacking", "4-D input", "chain rule", "training loop", "raw loop",
             "gc.train_step", "PyTorch"]
    positions = [headings.find(t) for t in order]
    assert all(p >= 0 for p in positions), [t for t, p in zip(order, positions) if p < 0]
    assert positions == sorted(positions)


def test_architecture_snippets_run(workspace):
    python_blocks, _ = run_document("architecture.md")
    assert python_blocks >= 6


def test_architecture_op_table_matches_the_op_registry():
    from graphc.ir.op import OPS
    text = (DOCS / "architecture.md").read_text()
    table = text.split("<!-- op-table -->")[1].split("<!-- /op-table -->")[0]
    rows = re.findall(r"^\|\s*`(\w+)`\s*\|\s*(\w+)\s*\|\s*`([\w/.]+)`", table, re.M)
    assert {name: kind for name, kind, _ in rows} == {n: o.kind for n, o in OPS.items()}
    for name, _, path in rows:
        source = (REPO / path).read_text()
        assert f'"{name}"' in source, f"op {name!r} is not declared in {path}"


def test_paths_named_in_the_docs_exist():
    for doc in DOCS.glob("*.md"):
        for path in set(re.findall(r"\b((?:graphc|examples|tests)/[\w/]+\.py)\b",
                                   doc.read_text())):
            assert (REPO / path).is_file(), f"{doc.name} names {path}, which does not exist"


def test_not_run_blocks_say_why():
    for doc in DOCS.glob("*.md"):
        for block in blocks(doc):
            assert block.lang in ("python", "bash", ""), f"{doc.name}:{block.line}: {block.lang}"
            if block.skip is not None:
                assert len(block.skip) > 10, f"{doc.name}:{block.line}: give a real reason"
