"""A drawing of a graph as data: boxes, edges, clusters and a legend. The DOT text and the
built-in picture both print this one description, so they show the same thing.

Nodes built inside a gc.nn module are grouped in a cluster named after it (`blocks.0.attn`),
the forward and the backward part apart. `collapse` draws whole modules as one box each: a
module's nodes (its parameters included) become a box that says how many ops it holds, and
edges run between the boxes. That is what makes a transformer's training step readable.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..ir.graph import topo_order
from . import labels

MAX_OUTPUT_LINES = 3  # more outputs from one box are summarized as "+N more"


@dataclass
class Box:
    id: str
    lines: list[str]            # the first is the title
    kind: str                   # input, constant, forward, grad or output
    fused: bool = False         # a fused kernel: drawn with a double border
    module: bool = False        # a collapsed module: drawn with a heavy border
    cluster: str | None = None  # the key of the innermost cluster holding it


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    output: bool = False        # dashed, to an output's name


@dataclass
class Cluster:
    key: str
    label: str
    kind: str                   # forward or grad
    parent: str | None


@dataclass
class Drawing:
    title: str | None
    boxes: dict = field(default_factory=dict)      # id -> Box, inputs before users
    edges: list = field(default_factory=list)
    clusters: dict = field(default_factory=dict)   # key -> Cluster, parents first

    def legend(self) -> list[tuple[str, str]]:
        """(style, text) for what this drawing shows, in a fixed order."""
        boxes = list(self.boxes.values())
        shown = {b.kind for b in boxes}
        entries = [(k, text) for k, text in (
            ("input", "input"), ("constant", "constant"), ("forward", "forward op"),
            ("grad", "backward op (gc.grad)")) if k in shown]
        if any(b.fused for b in boxes):
            entries.append(("fused", "fused kernel: the ops it replaced, in order"))
        if any(b.module for b in boxes):
            entries.append(("module", "a module drawn as one box"))
        if any(e.label for e in self.edges):
            entries.append(("edge", "edge label: which operand it is (x, y; einsum subscripts; "
                                    "0, 1, ... in order)"))
        if "output" in shown:
            entries.append(("output", "dashed: an output, named"))
        return entries


def module_levels(scope: str) -> list[str]:
    """'blocks.0.attn' -> ['blocks.0', 'blocks.0.attn']: a list index stays with its list,
    so a level is one module of the model ('blocks.0'), not the list holding it."""
    levels: list[str] = []
    for part in scope.split("."):
        if part.isdigit() and levels:
            levels[-1] += "." + part
        else:
            levels.append(f"{levels[-1]}.{part}" if levels else part)
    return levels


def cluster_prefixes(scope: str) -> list[str]:
    """'blocks.0.attn' -> ['blocks', 'blocks.0', 'blocks.0.attn']: one cluster per module."""
    parts = scope.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts) + 1)]


def collapser(collapse, scopes):
    """scope -> the name of the collapsed module holding it, or None. `collapse` is None or
    False (nothing), True (every module one level down), a depth N, or module names."""
    if collapse is None or collapse is False:
        return lambda scope: None
    if collapse is True or isinstance(collapse, int):
        depth = 1 if collapse is True else collapse
        if depth < 1:
            raise ValueError(f"collapse: a depth must be at least 1, got {collapse}")

        def by_depth(scope):
            if not scope:
                return None
            levels = module_levels(scope)
            return levels[min(depth, len(levels)) - 1]
        return by_depth
    names = [collapse] if isinstance(collapse, str) else list(collapse)
    known = sorted({p for s in scopes if s for p in cluster_prefixes(s)})
    for name in names:
        if not isinstance(name, str) or name not in known:
            raise ValueError(f"collapse: no module {name!r} built nodes of this graph; its "
                             f"modules are: {', '.join(known) or 'none'}")

    def by_name(scope):
        matches = [n for n in names if scope == n or scope.startswith(n + ".")]
        return min(matches, key=len) if matches else None
    return by_name


def build(outputs, names, title=None, collapse=None) -> Drawing:
    """The drawing of the graph computing `outputs`, whose names are `names`."""
    nodes = topo_order(outputs)
    collapsed = collapser(collapse, {n.scope for n in nodes})
    d = Drawing(title)
    # scopes with nodes drawn one by one: a collapsed module is framed by its parent only
    # where that parent shows nodes of its own (not by a bare list such as "blocks")
    open_scopes = {n.scope for n in nodes if n.scope and collapsed(n.scope) is None}
    box_of: dict[int, str] = {}
    members: dict[str, list] = {}  # module box id -> the nodes inside it
    roots: dict[str, str] = {}     # module box id -> the module's name
    for k, n in enumerate(nodes):
        root = collapsed(n.scope)
        if root is None:
            box_of[id(n)] = _node_box(d, f"n{k}", n)
            continue
        kind = "grad" if labels.kind(n) == "grad" else "forward"
        bid = _module_box_id(root, kind)
        if bid not in d.boxes:
            parent = _parent_scope(root)
            shown = any(s == parent or s.startswith(parent + ".") for s in open_scopes)
            d.boxes[bid] = Box(bid, [], kind, module=True,
                               cluster=_cluster_of(d, parent, kind) if shown else None)
        members.setdefault(bid, []).append(n)
        roots[bid] = root
        box_of[id(n)] = bid
    for bid, inside in members.items():
        d.boxes[bid].lines = _module_lines(roots[bid], d.boxes[bid].kind, inside)
    _add_edges(d, nodes, box_of)
    _add_outputs(d, outputs, names, box_of)
    return d


def _node_box(d: Drawing, bid: str, n) -> str:
    kind = labels.kind(n)
    cluster = _cluster_of(d, n.scope, "grad" if kind == "grad" else "forward")
    d.boxes[bid] = Box(bid, labels.lines(n), kind, fused="fused" in n.attrs, cluster=cluster)
    return bid


def _module_box_id(root: str, kind: str) -> str:
    return f"m_{kind}_{root}".replace(".", "_")


def _parent_scope(scope: str) -> str:
    return scope.rpartition(".")[0]


def _cluster_of(d: Drawing, scope: str, kind: str) -> str | None:
    """The key of the cluster for `scope` (made, with its parents, on first use)."""
    parent = None
    for prefix in (cluster_prefixes(scope) if scope else []):
        key = f"{kind}:{prefix}"
        if key not in d.clusters:
            label = prefix + (" (backward)" if kind == "grad" else "")
            d.clusters[key] = Cluster(key, label, kind, parent)
        parent = key
    return parent


def _module_lines(root: str, kind: str, inside: list) -> list[str]:
    """A collapsed module's box: its name, how many ops and parameters, its commonest ops."""
    params = sum(1 for n in inside if n.op == "input")
    ops = [n for n in inside if n.op not in ("input", "constant")]
    counts = Counter("fused kernel" if "fused" in n.attrs else n.op for n in ops)
    out = [root + (" (backward)" if kind == "grad" else ""),
           f"{len(ops)} ops" + (f", {params} parameters" if params else "")]
    if counts:
        out.append(", ".join(f"{c} {op}" for op, c in counts.most_common(3)))
    return out


def _add_edges(d: Drawing, nodes, box_of) -> None:
    seen = set()
    for n in nodes:
        dst = box_of[id(n)]
        into_module = d.boxes[dst].module
        for inp, label in zip(n.inputs, labels.operand_labels(n)):
            src = box_of[id(inp)]
            if src == dst:
                continue
            edge = (src, dst, "" if into_module or d.boxes[src].module else label)
            if edge not in seen:  # a module's many wires to one box: one edge
                seen.add(edge)
                d.edges.append(Edge(*edge))


def _add_outputs(d: Drawing, outputs, names, box_of) -> None:
    by_box: dict[str, list[str]] = {}
    for o, name in zip(outputs, names):
        by_box.setdefault(box_of[id(o)], []).append(name)
    for k, (src, named) in enumerate(by_box.items()):
        shown = named if len(named) <= MAX_OUTPUT_LINES else \
            named[:MAX_OUTPUT_LINES - 1] + [f"+{len(named) - MAX_OUTPUT_LINES + 1} more"]
        d.boxes[f"out{k}"] = Box(f"out{k}", shown, "output")
        d.edges.append(Edge(src, f"out{k}", output=True))
