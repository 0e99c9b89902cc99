"""README.md: it opens with the two make commands, its Python runs, its graphc commands work."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

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
    # the whole suite is one documented flag away, and CI runs it
    assert "make test ALL=1" in ci and "`make test ALL=1`" in README.read_text()
    assert re.search(r"^SELECT := \$\(if \$\(ALL\),,-m \"not slow\"\)$", makefile, re.M)


def test_the_pictures_the_docs_show_exist():
    shown = set()
    for doc in [README, *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", doc.read_text()):
            path = (doc.parent / target).resolve()
            assert path.is_file(), f"{doc.name} shows {target}, which does not exist"
            shown.add(path.name)
    assert {"forward_backward.svg", "fused.svg", "transformer_step.png",
            "transformer_loss.png", "linear_regression_loss.png"} <= shown
    assert re.search(r"^pictures: .*\n\t.*docs/pictures/make_pictures.py",
                     (REPO / "Makefile").read_text(), re.M)


@pytest.mark.slow
def test_make_pictures_draws_them(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "docs" / "pictures" / "make_pictures.py"),
                           "--skip-training", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("forward_backward.svg", "fused.svg", "transformer_step.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    assert "grad W" in (tmp_path / "forward_backward.svg").read_text()


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
