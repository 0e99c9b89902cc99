"""README.md: it opens with the two make commands, its Python runs, its graphc commands work."""
from __future__ import annotations

import re
import shlex

from doc_blocks import REPO, blocks, run_python, run_shell

README = REPO / "README.md"


def test_readme_opens_with_the_two_make_commands():
    first = blocks(README)[0]
    commands = [shlex.split(line, comments=True) for line in first.code.splitlines()]
    assert [c for c in commands if c] == [["make", "demo"], ["make", "test"]]
    makefile = (REPO / "Makefile").read_text()
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no {target} target"
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci, ".ci/run must run the README's test command"


def test_readme_code_runs(tmp_path, monkeypatch, capsys):
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRAPHC_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "docs.README"}
    ran = []
    for block in blocks(README)[1:]:
        if block.lang == "python":
            run_python(block, namespace, README)
        elif block.lang == "bash":
            ran += run_shell(block, README)
    assert namespace["gW_v"].shape == (784, 10)
    assert {c[1] for c in ran} == {"dot", "cost", "explain", "run"}
    assert "2*b*d*e" in capsys.readouterr().out
