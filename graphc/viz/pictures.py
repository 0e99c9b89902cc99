"""gc.render: write a drawing to a file, with Graphviz where it is installed and with graphc's
own layered layout (networkx layers, matplotlib paint) where it is not, so a picture is
always made. The DOT text is written next to the picture either way."""
from __future__ import annotations

import os
import shutil
import subprocess

from .dot import dot_text, hooks_for
from .drawing import build
from .select import outputs_to_draw

PICTURES = (".svg", ".png", ".pdf")
ENGINES = ("auto", "graphviz", "builtin")


def render(outputs, path, title: str | None = None, stage: str | None = None, names=None,
           collapse=None, engine: str = "auto") -> list[str]:
    """Write the drawing of `outputs` (what gc.to_dot takes, with the same `stage`, `names`
    and `collapse`) to `path`: .dot text, or a .svg / .png / .pdf picture with its .dot next
    to it. Returns the files written.

    `engine`: "graphviz" (its `dot` program), "builtin" (graphc's layered layout drawn with
    matplotlib: no Graphviz needed), or "auto": Graphviz when installed, else built-in.

    >>> import graphc as gc, os, tempfile
    >>> x = gc.tensor("x", ("B", 3)); path = os.path.join(tempfile.mkdtemp(), "g.svg")
    >>> [os.path.basename(f) for f in gc.render(gc.relu(x).sum(), path, engine="builtin")]
    ['g.dot', 'g.svg']
    """
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    ext = ext.lower() or ".dot"
    if ext not in (".dot",) + PICTURES:
        raise ValueError(f"render: unsupported file type {ext!r}; use .dot, .svg, .png or .pdf")
    if engine not in ENGINES:
        raise ValueError(f"render: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if os.path.isdir(path):  # not "path.dot" written next to the folder
        raise IsADirectoryError(f"render: {path!r} is a directory; give a file name, e.g. "
                                f"{os.path.join(path, 'graph.svg')!r}")
    outs, named = outputs_to_draw(outputs, stage, names)
    drawing = build(outs, named, title, collapse)
    dot_path = root + ".dot"
    folder = os.path.dirname(os.path.abspath(dot_path))
    os.makedirs(folder, exist_ok=True)
    with open(dot_path, "w", encoding="utf-8") as f:
        f.write(dot_text(drawing, hooks_for(outs)))
    if ext == ".dot":
        return [dot_path]
    exe = shutil.which("dot") if engine != "builtin" else None
    if exe is not None:
        done = subprocess.run([exe, f"-T{ext[1:]}", dot_path, "-o", path], capture_output=True,
                              text=True)
        if done.returncode != 0:
            problem = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"render: Graphviz's dot could not draw {dot_path}: {problem}")
    elif engine == "graphviz":
        raise RuntimeError(f"render: engine='graphviz' asks for Graphviz's `dot` program, which "
                           f"is not installed; wrote {dot_path}; engine='auto' draws {path} "
                           f"without it")
    else:
        from .layout import layout
        from .paint import paint
        paint(drawing, layout(drawing), path)
    return [dot_path, path]
