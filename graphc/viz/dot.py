"""Graphviz DOT text of a drawing: inputs green, forward ops blue, the nodes gc.grad built
orange, fused kernels with a double border, a cluster per gc.nn module, named outputs and a
legend. graphc/viz/drawing.py decides what is drawn; this file only prints it as DOT.
"""
from __future__ import annotations

from html import escape as html_escape

from . import labels
from .drawing import Drawing, build
from .select import outputs_to_draw

# Hooks for more label lines from later stages: each takes a node and returns a line or None.
LABEL_HOOKS: list = []

LEGEND_SWATCH = {"fused": ("forward", 'style="rounded" border="3"'),
                 "module": ("forward", 'border="3"')}


def to_dot(outputs, title: str | None = None, stage: str | None = None, names=None,
           collapse=None) -> str:
    """Graphviz DOT text of a graph: `outputs` is a tensor, a list or dict of tensors, a
    gc.Graph or a compiled function (gc.compile, gc.train_step, gc.nn.function).

    `stage`: "raw" (as built), "optimized" (after the passes), or None: a compiled
    function's compiled graph, else the graph as built. `names`: one per output (a dict's
    keys name its values; otherwise gc.grad's results are "loss" and "grad W"). `collapse`:
    module names (or a depth: 1 is every top-level module) drawn as one box each.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 3)); print(gc.to_dot(x.sum())[:7])
    digraph
    """
    outs, named = outputs_to_draw(outputs, stage, names)
    return dot_text(build(outs, named, title, collapse), hooks_for(outs))


def hooks_for(outputs) -> dict:
    """Box id -> the extra lines LABEL_HOOKS give its node (ids as drawing.build numbers)."""
    if not LABEL_HOOKS:
        return {}
    from ..ir.graph import topo_order
    extra = {}
    for k, n in enumerate(topo_order(outputs)):
        lines = [line for line in (hook(n) for hook in LABEL_HOOKS) if line]
        if lines:
            extra[f"n{k}"] = lines
    return extra


def dot_text(d: Drawing, extra_lines: dict | None = None) -> str:
    extra_lines = extra_lines or {}
    out = ["digraph graphc {", "  rankdir=TB;",
           '  graph [fontname="Helvetica"];',
           '  node [fontname="Helvetica", fontsize=10, shape=box];',
           f'  edge [color="{labels.EDGE}", arrowsize=0.6, fontname="Helvetica", fontsize=8];']
    if d.title:
        out.append(f'  label="{_escape(d.title)}"; labelloc=t; fontsize=14;')
    inside: dict = {key: [] for key in d.clusters}
    for box in d.boxes.values():
        if box.cluster is None:
            out.append("  " + _box(box, extra_lines.get(box.id)))
        else:
            inside[box.cluster].append(box)
    for key, cluster in d.clusters.items():
        if cluster.parent is None:
            out.extend(_cluster(d, key, inside, extra_lines, "  "))
    for e in d.edges:
        attrs = ' [style=dashed]' if e.output else (
            f' [label="{_escape(e.label)}"]' if e.label else "")
        out.append(f"  {e.src} -> {e.dst}{attrs};")
    out.append(f'  legend [shape=plaintext, label=<{_legend(d)}>];')
    out.append("}")
    return "\n".join(out) + "\n"


def _cluster(d: Drawing, key: str, inside: dict, extra_lines: dict, pad: str) -> list[str]:
    c = d.clusters[key]
    name = "cluster_" + "".join(ch if ch.isalnum() else "_" for ch in key)
    out = [f"{pad}subgraph {name} {{",
           f'{pad}  label="{_escape(c.label)}"; labeljust=l; fontsize=10; '
           f'style="rounded,dashed"; color="{labels.BORDER[c.kind]}";']
    for box in inside[key]:
        out.append(f"{pad}  " + _box(box, extra_lines.get(box.id)))
    for child_key, child in d.clusters.items():
        if child.parent == key:
            out.extend(_cluster(d, child_key, inside, extra_lines, pad + "  "))
    out.append(f"{pad}}}")
    return out


def _box(box, extra=None) -> str:
    lines = box.lines[:-1] + list(extra) + box.lines[-1:] if extra else box.lines
    text = _escape("\n".join(lines))
    if box.kind == "output":
        return f'{box.id} [label="{text}", shape=plaintext];'
    rounded = box.kind not in ("input", "constant")
    style = "filled,rounded" if rounded else "filled"
    attrs = [f'label="{text}"', f'style="{style}"', f'fillcolor="{labels.FILL[box.kind]}"',
             f'color="{labels.BORDER[box.kind]}"']
    if box.fused:
        attrs.append("peripheries=2")
    if box.module:
        attrs.append("penwidth=2.5")
    return f"{box.id} [{', '.join(attrs)}];"


def _legend(d: Drawing) -> str:
    rows = []
    for style, text in d.legend():
        if style in labels.FILL:
            swatch = f'<td bgcolor="{labels.FILL[style]}" color="{labels.BORDER[style]}"> </td>'
        elif style in LEGEND_SWATCH:
            kind, extra = LEGEND_SWATCH[style]
            swatch = f'<td bgcolor="{labels.FILL[kind]}" {extra}> </td>'
        elif style == "edge":
            swatch = '<td border="0">x →</td>'
        else:  # output
            swatch = '<td border="0">- - →</td>'
        rows.append(f'<tr>{swatch}<td border="0" align="left">{html_escape(text)}</td></tr>')
    return ('<table border="0" cellborder="1" cellspacing="3" cellpadding="2">'
            + "".join(rows) + "</table>")


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
