"""docs/api.md names exactly the public API, with the code's signatures, and its examples run."""
from __future__ import annotations

import inspect
import re

import pytest

import graphc as gc
from doc_blocks import DOCS, blocks, run_python

API = DOCS / "api.md"
HEADING = re.compile(r"^### `(gc(?:\.\w+)+)(\(.*\))?`\s*$", re.M)


def public_names() -> set[str]:
    names = {f"gc.{n}" for n in gc.__all__}
    names |= {f"gc.nn.{n}" for n in gc.nn.__all__}
    names |= {f"gc.optim.{n}" for n in gc.optim.__all__}
    return names


def resolve(dotted: str):
    obj = gc
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def plain_signature(obj) -> str:
    """inspect.signature without annotations: (name, shape=(), dtype='float32')."""
    parts, star = [], False
    for p in inspect.signature(obj).parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            parts.append("*" + p.name)
            star = True
        elif p.kind == p.VAR_KEYWORD:
            parts.append("**" + p.name)
        else:
            if p.kind == p.KEYWORD_ONLY and not star:
                parts.append("*")
                star = True
            parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return "(" + ", ".join(parts) + ")"


def documented() -> dict[str, str | None]:
    found = {}
    for name, sig in HEADING.findall(API.read_text()):
        assert name not in found, f"api.md documents {name} twice"
        found[name] = sig or None
    return found


def test_api_md_documents_exactly_the_public_names():
    docs, public = set(documented()), public_names()
    assert not public - docs, f"public but not in docs/api.md: {sorted(public - docs)}"
    assert not docs - public, f"in docs/api.md but not public: {sorted(docs - public)}"


def test_documented_signatures_are_the_codes():
    for name, sig in documented().items():
        obj = resolve(name)
        if inspect.isfunction(obj) or (inspect.isclass(obj) and sig is not None):
            assert sig == plain_signature(obj), f"{name}: api.md says {sig}, the code says " \
                                                f"{plain_signature(obj)}"
        elif sig is not None:
            pytest.fail(f"{name} is not callable, but api.md gives it a signature {sig}")


def test_every_name_has_a_meaning_and_functions_have_an_example():
    text = API.read_text()
    sections = HEADING.split(text)[1:]
    # split yields (name, sig, body) triples
    for name, _, body in zip(sections[0::3], sections[1::3], sections[2::3]):
        prose = body.split("```")[0].strip()
        assert prose, f"{name}: no one-line meaning"
        if callable(resolve(name)) and not inspect.ismodule(resolve(name)):
            assert "```python" in body, f"{name}: no example"


def test_api_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = blocks(API)
    prelude, examples = found[0], [b for b in found[1:] if not b.skip]
    assert len(examples) >= len(public_names()) - 5
    for block in examples:
        assert block.lang == "python"
        namespace: dict = {}
        run_python(prelude, namespace, API)
        run_python(block, namespace, API)
