"""graphc's own layered layout, for machines without Graphviz: where each box of a drawing
goes, top to bottom, inputs first. Sizes are in points (1/72 inch), as matplotlib draws them.

1. Layers: networkx's topological generations; an input or constant (and what is computed
   from those alone, like W.T) then moves down to just above its first user, so a weight used
   late does not hang at the top with a long edge.
2. An edge spanning several layers gets a chain of invisible waypoints, one per layer, so it
   bends around boxes rather than crossing them, and takes part in the ordering.
3. Order within a layer: barycenter sweeps (each box near the mean position of its
   neighbours), keeping the boxes of one module cluster side by side.
4. x positions: each box as near the mean x of its neighbours as the boxes' widths allow
   (an isotonic regression, pool-adjacent-violators), sweeping down and up a few times.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .drawing import Drawing

FONT = 8.0                 # pt, the text in boxes
CHAR_WIDTH = 0.62 * FONT   # a generous average for DejaVu Sans, matplotlib's default font
LINE_HEIGHT = 1.3 * FONT
PAD_X, PAD_Y = 6.0, 4.0    # inside a box
GAP_X, GAP_Y = 16.0, 30.0  # between boxes of a layer, between layers
WAYPOINT_WIDTH = 6.0
SWEEPS = 4


@dataclass
class Placed:
    x: float   # the box's centre
    y: float   # its top
    w: float
    h: float


@dataclass
class Layout:
    boxes: dict = field(default_factory=dict)    # box id -> Placed
    routes: list = field(default_factory=list)   # (Edge, [(x, y), ...]) source to target
    width: float = 0.0
    height: float = 0.0


def box_size(lines: list[str]) -> tuple[float, float]:
    width = max(len(line) for line in lines) * CHAR_WIDTH + 2 * PAD_X
    return max(width, 36.0), len(lines) * LINE_HEIGHT + 2 * PAD_Y


def layout(d: Drawing) -> Layout:
    graph = nx.DiGraph()
    graph.add_nodes_from(d.boxes)
    graph.add_edges_from((e.src, e.dst) for e in d.edges)
    layer = _layers(_acyclic(graph))
    rows, chains, neighbours = _rows_with_waypoints(d, layer)
    size = {bid: box_size(d.boxes[bid].lines) for bid in d.boxes}
    width = {n: size[n][0] if n in size else WAYPOINT_WIDTH for row in rows for n in row}
    _order(rows, neighbours, _cluster_paths(d))
    x = _x_positions(rows, neighbours, width)
    tops, heights = _y_positions(rows, size)
    left = min(x[n] - width[n] / 2 for row in rows for n in row) if rows else 0.0
    out = Layout()
    for k, row in enumerate(rows):
        for n in row:
            if n in size:
                w, h = size[n]
                out.boxes[n] = Placed(x[n] - left + GAP_X, tops[k] + (heights[k] - h) / 2, w, h)
    incoming: dict = {}
    for e, _ in chains:
        incoming.setdefault(e.dst, []).append(e)
    for e, waypoints in chains:
        start, end = out.boxes[e.src], out.boxes[e.dst]
        middle = [(x[p] - left + GAP_X, tops[layer_of] + heights[layer_of] / 2)
                  for p, layer_of in waypoints]
        if end.y >= start.y + start.h:  # downwards: bottom of the source to top of the target
            points = [(start.x, start.y + start.h), *middle, (_slot(end, e, incoming), end.y)]
        else:  # an edge against the flow (a cycle between collapsed modules)
            points = [(start.x, start.y), (end.x, end.y + end.h)]
        out.routes.append((e, points))
    out.width = max((p.x + p.w / 2 for p in out.boxes.values()), default=0.0) + GAP_X
    out.height = tops[-1] + heights[-1] if rows else 0.0
    return out


def _slot(end: Placed, e, incoming) -> float:
    """Where an edge meets its target's top: the inputs side by side in operand order, so
    their labels (x, y) do not sit on each other."""
    edges = incoming[e.dst]
    step = min(end.w / (len(edges) + 1), 24.0)
    return end.x + (edges.index(e) - (len(edges) - 1) / 2) * step


def _acyclic(graph: nx.DiGraph) -> nx.DiGraph:
    """The graph without the edges that close cycles (possible only between collapsed
    modules): layers need an order, the picture still draws every edge."""
    if nx.is_directed_acyclic_graph(graph):
        return graph
    rank = {n: k for k, n in enumerate(reversed(list(nx.dfs_postorder_nodes(graph))))}
    dag = nx.DiGraph()
    dag.add_nodes_from(graph)
    dag.add_edges_from((u, v) for u, v in graph.edges if rank[u] < rank[v])
    return dag


def _layers(dag: nx.DiGraph) -> dict:
    """Topological generations; then what depends only on inputs and constants (an input,
    W.T, the gradient's seed 1.0 and its reshapes) moves down next to its first user."""
    layer = {n: k for k, gen in enumerate(nx.topological_generations(dag)) for n in gen}
    order = list(nx.topological_sort(dag))
    hanging = set()
    for n in order:
        preds = list(dag.predecessors(n))
        if all(p in hanging for p in preds):
            hanging.add(n)
    for n in reversed(order):
        if n in hanging and dag.out_degree(n) > 0:
            layer[n] = min(layer[s] for s in dag.successors(n)) - 1
    return layer


def _rows_with_waypoints(d: Drawing, layer: dict):
    """Rows of box ids (and waypoint ids) per layer; each edge's waypoints with their layers;
    and every id's neighbours in the rows above and below."""
    count = max(layer.values(), default=-1) + 1
    rows: list[list] = [[] for _ in range(count)]
    for bid in d.boxes:  # boxes come inputs first, a good first order
        rows[layer[bid]].append(bid)
    up: dict = {n: [] for row in rows for n in row}
    down: dict = {n: [] for row in rows for n in row}
    chains = []
    for k, e in enumerate(d.edges):
        a, b = layer[e.src], layer[e.dst]
        waypoints, previous = [], e.src
        for level in range(a + 1, b):
            p = ("waypoint", k, level)
            rows[level].append(p)
            up[p], down[p] = [previous], []
            down[previous].append(p)
            waypoints.append((p, level))
            previous = p
        if b > a:
            down[previous].append(e.dst)
            up[e.dst].append(previous)
        chains.append((e, waypoints))
    return rows, chains, (up, down)


def _cluster_paths(d: Drawing) -> dict:
    """Box id -> its clusters, outermost first (what keeps a module's boxes together)."""
    paths = {}
    for bid, box in d.boxes.items():
        path, key = [], box.cluster
        while key is not None:
            path.append(key)
            key = d.clusters[key].parent
        paths[bid] = path[::-1]
    return paths


def _order(rows, neighbours, paths) -> None:
    up, down = neighbours
    for sweep in range(SWEEPS):
        span = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        towards = up if sweep % 2 == 0 else down
        for k in span:
            _sort_row(rows[k], rows[k - 1] if sweep % 2 == 0 else rows[k + 1], towards, paths)


def _sort_row(row, adjacent, towards, paths) -> None:
    """Barycenter ordering of a row against the adjacent one, clusters kept together."""
    pos = {n: i for i, n in enumerate(adjacent)}
    scale = len(adjacent) / max(len(row), 1)  # a box with no neighbour there keeps its place
    bary = {}
    for i, n in enumerate(row):
        near = towards[n]
        bary[n] = sum(pos[m] for m in near) / len(near) if near else i * scale
    groups: dict = {}
    for n in row:
        for depth, key in enumerate(paths.get(n, [])):
            groups.setdefault((depth, key), []).append(bary[n])
    mean = {g: sum(v) / len(v) for g, v in groups.items()}

    def key(n):
        path = paths.get(n, [])
        return tuple(mean[(depth, c)] for depth, c in enumerate(path)) + (bary[n],)
    row.sort(key=key)


def _x_positions(rows, neighbours, width) -> dict:
    up, down = neighbours
    x = {}
    for row in rows:
        _fit(row, [0.0] * len(row), width, x)
    for sweep in range(2 * SWEEPS):
        towards = up if sweep % 2 == 0 else down
        span = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        for k in span:
            want = [sum(x[m] for m in towards[n]) / len(towards[n]) if towards[n] else x[n]
                    for n in rows[k]]
            _fit(rows[k], want, width, x)
    return x


def _fit(row, want, width, x) -> None:
    """x for the row's boxes, in order, at least their half-widths plus GAP_X apart, as near
    to `want` as possible in the least-squares sense (pool adjacent violators)."""
    offsets, total = [], 0.0
    for i, n in enumerate(row):
        if i:
            total += (width[row[i - 1]] + width[n]) / 2 + GAP_X
        offsets.append(total)
    blocks: list[list[float]] = []  # [sum, count] of pooled values, nondecreasing means
    for w, o in zip(want, offsets):
        blocks.append([w - o, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    i = 0
    for s, c in blocks:
        for _ in range(int(c)):
            x[row[i]] = s / c + offsets[i]
            i += 1


def _y_positions(rows, size):
    heights = [max((size[n][1] for n in row if n in size), default=0.0) for row in rows]
    tops, y = [], 0.0
    for h in heights:
        tops.append(y)
        y += h + GAP_Y
    return tops, heights
