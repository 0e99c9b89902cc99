"""Run the code in the docs, so the docs cannot rot.

Conventions (docs/*.md):
- every ```python block runs, in order, in one namespace per document (api.md: each block in
  a fresh namespace seeded by the page's first block, so each example stands alone);
- in a ```bash block, each `graphc ...` line runs through graphc.cli.main and must exit 0;
  each `python examples/NAME.py ...` line must name an existing example;
- a block right after a line `<!-- not run: REASON -->` is skipped (the reason is required);
  use it for other libraries' code (PyTorch) and for commands that take minutes.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(\S.*?)\s*-->$")


@dataclass
class Block:
    lang: str
    code: str
    line: int            # the line of the block's first code line in the .md file
    skip: str | None     # why it is not run, or None


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    out, k = [], 0
    while k < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[k])
        if not m:
            k += 1
            continue
        end = k + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path.name}:{k + 1}: a code block is never closed")
        before = [x.strip() for x in lines[:k] if x.strip()]
        marker = NOT_RUN.match(before[-1]) if before else None
        if before and before[-1].startswith("<!-- not run") and not marker:
            raise AssertionError(f"{path.name}:{k}: a not-run marker needs a reason")
        out.append(Block(m.group(1), "\n".join(lines[k + 1:end]), k + 2,
                         marker.group(1) if marker else None))
        k = end + 1
    return out


def run_python(block: Block, namespace: dict, path: Path) -> None:
    # padded so a traceback's line numbers are the markdown file's
    source = "\n" * (block.line - 1) + block.code
    exec(compile(source, str(path), "exec"), namespace)


def run_shell(block: Block, path: Path) -> list[list[str]]:
    """Run the block's graphc lines; returns the commands it ran."""
    from graphc.cli import main
    ran = []
    for offset, raw in enumerate(block.code.splitlines()):
        words = shlex.split(raw, comments=True)
        where = f"{path.name}:{block.line + offset}"
        if not words:
            continue
        if words[0] == "graphc":
            code = main(words[1:])
            assert code == 0, f"{where}: `{raw.strip()}` exited with status {code}"
            ran.append(words)
        elif words[0] == "python" and len(words) > 1 and words[1].startswith("examples/"):
            assert (REPO / words[1]).is_file(), f"{where}: no example {words[1]}"
        else:
            raise AssertionError(f"{where}: the doc tests cannot run `{raw.strip()}`; "
                                 f"mark the block <!-- not run: REASON -->")
    return ran
