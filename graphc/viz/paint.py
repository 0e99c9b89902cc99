"""Paint a laid-out drawing with matplotlib: the built-in picture, for machines without
Graphviz. Same boxes, colours and legend as the DOT text; curved edges with arrows; a title
and the legend in a band at the top. Uses matplotlib's Figure directly (not pyplot), so it
changes no backend or global state of the program that calls it.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path

from . import labels
from .drawing import Drawing
from .layout import FONT, LINE_HEIGHT, PAD_Y, Layout

MARGIN = 12.0
TITLE_FONT = 12.0
LEGEND_FONT = 7.5
LEGEND_ROW = 14.0
CLUSTER_PAD, CLUSTER_LABEL = 5.0, 10.0
MAX_PIXELS = 16000  # per side of a PNG: a larger drawing gets a lower resolution
DPI = 100


def paint(d: Drawing, lay: Layout, path: str) -> tuple[int, int]:
    """Write the picture to `path` (.svg, .png or .pdf); returns its size in pixels at the
    resolution used (for a PNG, the file's size)."""
    legend_rows = _legend_rows(d, max(lay.width, 420.0))
    header = MARGIN + (TITLE_FONT * 1.6 if d.title else 0.0) + LEGEND_ROW * len(legend_rows)
    width = max(lay.width, _legend_width(legend_rows)) + 2 * MARGIN
    height = header + lay.height + 2 * MARGIN
    fig = Figure(figsize=(width / 72, height / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # y grows downwards, as the layout's does
    ax.set_axis_off()
    y = MARGIN
    if d.title:
        ax.text(MARGIN, y + TITLE_FONT * 0.6, d.title, fontsize=TITLE_FONT, weight="bold",
                va="center")
        y += TITLE_FONT * 1.6
    _paint_legend(ax, legend_rows, MARGIN, y)
    dx, dy = MARGIN, header + MARGIN
    _paint_clusters(ax, d, lay, dx, dy)
    for e, points in lay.routes:
        _paint_edge(ax, e, [(px + dx, py + dy) for px, py in points])
    for bid, placed in lay.boxes.items():
        _paint_box(ax, d.boxes[bid], placed, dx, dy)
    dpi = min(DPI, MAX_PIXELS * 72 / max(width, height))
    import matplotlib
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays searchable text
        fig.savefig(path, dpi=dpi)
    return round(width / 72 * dpi), round(height / 72 * dpi)


def _paint_box(ax, box, p, dx, dy) -> None:
    x0, y0 = p.x - p.w / 2 + dx, p.y + dy
    if box.kind == "output":
        for i, line in enumerate(box.lines):
            ax.text(p.x + dx, y0 + PAD_Y + (i + 0.5) * LINE_HEIGHT, line, fontsize=FONT,
                    ha="center", va="center", style="italic")
        return
    fill, edge = labels.FILL[box.kind], labels.BORDER[box.kind]
    style = "square,pad=0" if box.kind in ("input", "constant") else \
        "round,pad=0,rounding_size=4"
    if box.fused:  # a double border, as Graphviz's peripheries=2
        ax.add_patch(FancyBboxPatch((x0 - 2.5, y0 - 2.5), p.w + 5, p.h + 5, boxstyle=style,
                                    fc="none", ec=edge, lw=0.8, zorder=3))
    ax.add_patch(FancyBboxPatch((x0, y0), p.w, p.h, boxstyle=style, fc=fill, ec=edge,
                                lw=2.2 if box.module else 0.8, zorder=3))
    last = len(box.lines) - 1
    for i, line in enumerate(box.lines):
        detail = i == last and not box.module  # the shape and dtype line, quieter
        ax.text(p.x + dx, y0 + PAD_Y + (i + 0.5) * LINE_HEIGHT, line, fontsize=FONT,
                ha="center", va="center", color="#555555" if detail else "black",
                weight="bold" if box.module and i == 0 else "normal", zorder=4)


def _paint_edge(ax, e, points) -> None:
    """A smooth curve through the route's points: vertical tangents at every point."""
    verts, codes = [points[0]], [Path.MOVETO]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        bend = (y1 - y0) / 2
        verts += [(x0, y0 + bend), (x1, y1 - bend), (x1, y1)]
        codes += [Path.CURVE4] * 3
    ax.add_patch(FancyArrowPatch(path=Path(verts, codes), arrowstyle="-|>", mutation_scale=8,
                                 color=labels.EDGE, lw=0.7, linestyle="--" if e.output else "-",
                                 zorder=2))
    if e.label:
        (x1, y1) = points[-1]
        ax.text(x1 + 3, y1 - 7, e.label, fontsize=FONT - 1.5, color="#333333", ha="left",
                va="center", zorder=5,
                bbox=dict(fc="white", ec="none", pad=0.4, alpha=0.85))


def _paint_clusters(ax, d: Drawing, lay: Layout, dx, dy) -> None:
    """A dashed, labelled frame around each module's boxes (outer frames drawn first)."""
    frames = {}
    for key in reversed(list(d.clusters)):  # children before parents: a frame holds its kids
        inside = [lay.boxes[b.id] for b in d.boxes.values() if b.cluster == key]
        spans = [(p.x - p.w / 2, p.y, p.x + p.w / 2, p.y + p.h) for p in inside]
        spans += [frames[k] for k, c in d.clusters.items() if c.parent == key and k in frames]
        if not spans:
            continue
        frames[key] = (min(s[0] for s in spans) - CLUSTER_PAD,
                       min(s[1] for s in spans) - CLUSTER_PAD - CLUSTER_LABEL,
                       max(s[2] for s in spans) + CLUSTER_PAD,
                       max(s[3] for s in spans) + CLUSTER_PAD)
    for key, cluster in d.clusters.items():
        if key not in frames:
            continue
        x0, y0, x1, y1 = frames[key]
        color = labels.BORDER[cluster.kind]
        ax.add_patch(FancyBboxPatch((x0 + dx, y0 + dy), x1 - x0, y1 - y0,
                                    boxstyle="round,pad=0,rounding_size=6", fc=color,
                                    alpha=0.04, ec="none", zorder=1))
        ax.add_patch(FancyBboxPatch((x0 + dx, y0 + dy), x1 - x0, y1 - y0,
                                    boxstyle="round,pad=0,rounding_size=6", fc="none", ec=color,
                                    lw=0.7, linestyle=(0, (4, 3)), zorder=1))
        ax.text(x0 + dx + 5, y0 + dy + CLUSTER_LABEL / 2 + 1, cluster.label,
                fontsize=FONT - 1, color=color, style="italic", va="center", zorder=1)


def _legend_rows(d: Drawing, width: float) -> list[list]:
    """The legend's entries, wrapped into rows that fit the picture's width."""
    rows, row, used = [], [], 0.0
    for entry in d.legend():
        w = _entry_width(entry)
        if row and used + w > width:
            rows.append(row)
            row, used = [], 0.0
        row.append(entry)
        used += w
    return rows + [row] if row else rows


def _entry_width(entry) -> float:
    return 24 + len(entry[1]) * LEGEND_FONT * 0.6 + 14


def _legend_width(rows) -> float:
    return max((sum(_entry_width(e) for e in row) for row in rows), default=0.0)


def _paint_legend(ax, rows, x0, y0) -> None:
    for r, row in enumerate(rows):
        x, y = x0, y0 + r * LEGEND_ROW + LEGEND_ROW / 2
        for style, text in row:
            _swatch(ax, style, x, y)
            ax.text(x + 24, y, text, fontsize=LEGEND_FONT, va="center")
            x += _entry_width((style, text))


def _swatch(ax, style, x, y) -> None:
    if style in labels.FILL:
        ax.add_patch(Rectangle((x, y - 5), 18, 10, fc=labels.FILL[style],
                               ec=labels.BORDER[style], lw=0.8))
    elif style in ("fused", "module"):
        fill, edge = labels.FILL["forward"], labels.BORDER["forward"]
        if style == "fused":
            ax.add_patch(Rectangle((x - 2, y - 7), 22, 14, fc="none", ec=edge, lw=0.8))
        ax.add_patch(Rectangle((x, y - 5), 18, 10, fc=fill, ec=edge,
                               lw=2.2 if style == "module" else 0.8))
    else:  # an edge label, or an output's dashed edge
        ax.text(x + 9, y, "x →" if style == "edge" else "- →", fontsize=LEGEND_FONT,
                ha="center", va="center", color=labels.EDGE)
