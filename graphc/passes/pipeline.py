"""The pass order, in one list."""
from __future__ import annotations

PIPELINE: list = []


def optimize(graph, passes=None, opt_level=None):
    """Run the pipeline (or the given passes) over a graph -> (graph, per-pass report)."""
    if opt_level == 0:
        return graph, []
    chosen = PIPELINE if passes is None else passes
    report = []
    for p in chosen:
        before = len(graph)
        graph = p(graph)
        report.append((p.__name__, before, len(graph)))
    return graph, report
