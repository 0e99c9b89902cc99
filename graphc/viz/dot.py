"""Graphviz export: forward nodes in blue, nodes built by gc.grad in orange, inputs as boxes.

Each node shows its op, its symbolic shape and its dtype; an elementwise node also shows its
sympy body, so what a kernel computes is readable from the drawing. After the optimizer, a
fused node (one with attr `fused`) is drawn as a cluster holding the ops it replaced, in
order, and each contraction carries its tile sizes and parallel axis (attr `schedule`).
"""
from __future__ import annotations

import os
import shutil
import subprocess

from ..ir.graph import Graph, topo_order
from ..ir.node import Node
from ..ir.op import is_reduction
from ..ir.shapes import fmt_shape

COLORS = {"forward": "#dbe9f6", "grad": "#fde2c4"}
BORDER = {"forward": "#2b6cb0", "grad": "#c05621"}


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def node_title(n: Node) -> str:
    """The op line of a node's label (what a reader needs to know what it computes)."""
    a = n.attrs
    if n.op == "input":
        return f"input {n.name}"
    if n.op == "constant":
        return f"constant {a['value']!r}"
    if n.op == "elementwise":
        body = a["body"]
        stmt = body.single
        if stmt is None:
            return f"{body.name}\n{_short(str(body))}"
        names = [str(p) for p in stmt.fn.params]
        args = [str(v) if not isinstance(v, int) else names[j] for j, v in enumerate(stmt.args)]
        return f"{body.name}\n{_short(stmt.fn.written(args))}"
    if n.op == "fused_reduce":
        keep = " keepdims" if a["keepdims"] else ""
        return f"fused_reduce {a['reduce']} axes={list(a['axes'])}{keep}"
    if n.op == "fused_contraction":
        c = a["contraction"]
        what = "matmul" if c[0] == "matmul" else f"einsum {','.join(c[1])}->{c[2]}"
        return f"fused_contraction {what}"
    if n.op in ("softmax", "log_softmax"):
        return f"{n.op} axis={a['axis']}"
    if is_reduction(n):  # sum, max, logsumexp
        return f"{n.op} axes={list(a['axes'])}" + (" keepdims" if a["keepdims"] else "")
    if n.op == "einsum":
        return f"einsum {','.join(a['terms'])}->{a['out']}"
    if n.op == "transpose":
        return f"transpose {list(a['perm'])}"
    if n.op == "one_hot":
        return f"one_hot depth={a['depth']}"
    return n.op


def _short(expr) -> str:
    body = str(expr)
    return body if len(body) <= 60 else body[:57] + "..."


# Hooks for richer labels and clusters (fused kernels, tile sizes) from later stages: each
# takes a node and returns extra label lines or None.
LABEL_HOOKS: list = []


def _label(n: Node) -> str:
    lines = [node_title(n)]
    if "schedule" in n.attrs:  # a contraction after the tile pass
        lines.append(str(n.attrs["schedule"]))
    for hook in LABEL_HOOKS:
        extra = hook(n)
        if extra:
            lines.append(extra)
    lines.append(f"{fmt_shape(n.shape)} {n.dtype}")
    return "\n".join(lines)


def to_dot(outputs, title: str | None = None) -> str:
    """Graphviz DOT text of the graph that computes `outputs` (a tensor, a list, or a Graph).

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 3)); print(gc.to_dot(x.sum())[:7])
    digraph
    """
    if isinstance(outputs, Graph):
        outputs = outputs.outputs
    elif isinstance(outputs, Node):
        outputs = [outputs]
    outputs = list(outputs)
    nodes = topo_order(outputs)
    ids = {id(n): f"n{k}" for k, n in enumerate(nodes)}
    lines = ["digraph graphc {", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=10, style="filled,rounded", shape=box];',
             '  edge [color="#555555", arrowsize=0.6];']
    if title:
        lines.append(f'  label="{_escape(title)}"; labelloc=t; fontsize=14;')
    for n in nodes:
        statement = f'{ids[id(n)]} [label="{_escape(_label(n))}", {_node_style(n)}];'
        lines.extend(_cluster(n, ids[id(n)], statement) if "fused" in n.attrs
                     else [f"  {statement}"])
    for n in nodes:
        for k, i in enumerate(n.inputs):
            lab = f' [label="{k}", fontsize=8]' if len(n.inputs) > 1 and n.op != "elementwise" \
                else ""
            lines.append(f"  {ids[id(i)]} -> {ids[id(n)]}{lab};")
    for k, o in enumerate(outputs):
        lines.append(f'  out{k} [label="output {k}", shape=plaintext, style=""];')
        lines.append(f"  {ids[id(o)]} -> out{k} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster(n: Node, nid: str, statement: str) -> list[str]:
    """A fused node inside a box with the ops it replaced, chained in the order they ran;
    the box's title is the kernel body as straight-line code (shared parts named once)."""
    body = n.attrs.get("epilogue") or n.attrs.get("body")
    title = "fused kernel" + ("\n" + "\n".join(body.lines()) if body is not None else "")
    ops = [f"{nid}_op{k}" for k in range(len(n.attrs["fused"]))]
    out = [f"  subgraph cluster_{nid} {{",
           f'    label="{_escape(title)}"; labeljust=l; fontsize=9; style="rounded,dashed"; '
           f'color="{BORDER.get(n.origin, "#444444")}";',
           f"    {statement}"]
    for op_id, name in zip(ops, n.attrs["fused"]):
        out.append(f'    {op_id} [label="{_escape(name)}", shape=ellipse, style="", '
                   f'fontsize=8, height=0.25];')
    out.append("    " + " -> ".join(ops + [nid]) + " [style=dotted, arrowhead=none];")
    out.append("  }")
    return out


def _node_style(n: Node) -> str:
    fill, border = COLORS.get(n.origin, "#eeeeee"), BORDER.get(n.origin, "#444444")
    style = '"filled"' if n.op in ("input", "constant") else '"filled,rounded"'
    if n.op == "input":
        fill = "#e2f0d9"
        border = "#38761d"
    return f'style={style}, fillcolor="{fill}", color="{border}"'


def render(outputs, path: str, title: str | None = None) -> list[str]:
    """Write `path` as .dot, and also .svg / .png when the path asks for one and Graphviz's
    `dot` program is installed. Returns the files written."""
    root, ext = os.path.splitext(path)
    ext = ext.lower() or ".dot"
    if ext not in (".dot", ".svg", ".png", ".pdf"):
        raise ValueError(f"render: unsupported file type {ext!r}; use .dot, .svg, .png or .pdf")
    text = to_dot(outputs, title=title)
    dot_path = root + ".dot"
    os.makedirs(os.path.dirname(os.path.abspath(dot_path)), exist_ok=True)
    with open(dot_path, "w") as f:
        f.write(text)
    written = [dot_path]
    if ext != ".dot":
        exe = shutil.which("dot")
        if exe is None:
            raise RuntimeError(f"render: wrote {dot_path}, but Graphviz's `dot` program is not "
                               f"installed, so {path} was not made (install graphviz, e.g. "
                               f"`apt-get install graphviz`, or open the .dot file elsewhere)")
        subprocess.run([exe, f"-T{ext[1:]}", dot_path, "-o", path], check=True,
                       capture_output=True)
        written.append(path)
    return written
