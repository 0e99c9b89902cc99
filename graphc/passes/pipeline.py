"""The pass order, in one list. Each pass is a pure `Graph -> Graph` function."""
from __future__ import annotations

from .cse import eliminate_common_subexpressions
from .dce import eliminate_dead_code
from .fold import fold_constants
from .fuse_elementwise import fuse_elementwise
from .fuse_epilogue import fuse_matmul_epilogue
from .simplify import simplify
from .tile import tile

PIPELINE = [
    fold_constants,
    simplify,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fuse_elementwise,
    fuse_matmul_epilogue,
    tile,
]


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
