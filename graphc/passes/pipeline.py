"""The pass order, in one list. Each pass is a pure `Graph -> Graph` function.

Every pass in the default pipeline keeps every result exactly (IEEE arithmetic, NaN, +-Inf,
+-0 and empty axes included). `simplify_fast_math` changes values where real-number algebra
and floats disagree; it is in the list but runs only with `fast_math=True` (as a C
compiler's -ffast-math). After each pass `optimize` checks that the graph still has the same
inputs and outputs of the same shapes and dtypes, and names the pass that broke that.

`optimize` runs a list of passes (the pipeline, an opt level's share of it, or passes named
by the user), records per pass the node counts and what changed (the `note`s a pass made,
see rewrite.py), and, when asked, writes the graph after each pass as numbered .dot files:
set the environment variable GRAPHC_DUMP_DIR or pass `dump_dir=`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from ..ir.graph import Graph
from ..ir.shapes import fmt_shape
from .cse import eliminate_common_subexpressions
from .dce import eliminate_dead_code
from .fast_math import simplify_fast_math
from .fold import fold_constants
from .fuse_elementwise import fuse_elementwise
from .fuse_epilogue import fuse_matmul_epilogue
from .fuse_reduce_epilogue import fuse_reduce_epilogue
from .patterns import same_shape
from .rewrite import recording
from .simplify import simplify
from .tile import tile

PIPELINE = [
    fold_constants,
    simplify,
    simplify_fast_math,  # only with fast_math=True
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fuse_elementwise,
    fuse_reduce_epilogue,
    fuse_matmul_epilogue,
    tile,
]
FAST_MATH_ONLY = (simplify_fast_math,)

# name -> pass, for gc.compile(passes=["simplify", ...]) and the CLI
PASSES: dict[str, Callable] = {p.__name__: p for p in PIPELINE}

# 0: none; 1: the algebraic clean-up (no fusion, no schedule); 2 (the default): everything
OPT_LEVELS = {0: [], 1: PIPELINE[:5], 2: PIPELINE}
DEFAULT_OPT_LEVEL = 2
DUMP_ENV = "GRAPHC_DUMP_DIR"


@dataclass
class PassReport:
    """What one pass did: node counts before and after, and its counted changes."""

    name: str
    nodes_before: int
    nodes_after: int
    changes: dict = field(default_factory=dict)


def resolve(passes=None, opt_level=None, fast_math: bool = False) -> list[Callable]:
    """The passes to run: `passes` (functions or names) if given, else the opt level's
    (without the fast-math passes unless `fast_math`)."""
    if passes is not None:
        if opt_level is not None:
            raise ValueError("optimize: give `passes` or `opt_level`, not both")
        if isinstance(passes, (str, bytes)) or callable(passes):
            passes = [passes]
        return [_one_pass(p) for p in passes]
    level = DEFAULT_OPT_LEVEL if opt_level is None else opt_level
    if level not in OPT_LEVELS:
        raise ValueError(f"optimize: opt_level must be one of {sorted(OPT_LEVELS)}, got "
                         f"{opt_level!r}")
    return [p for p in OPT_LEVELS[level] if fast_math or p not in FAST_MATH_ONLY]


def _one_pass(p) -> Callable:
    if isinstance(p, str):
        try:
            return PASSES[p]
        except KeyError:
            raise ValueError(f"unknown pass {p!r}; passes: {', '.join(PASSES)}") from None
    if not callable(p):
        raise TypeError(f"a pass must be a function Graph -> Graph or a pass name, got "
                        f"{type(p).__name__}")
    return p


def optimize(graph: Graph, passes=None, opt_level=None, dump_dir=None, observe=None,
             fast_math: bool = False):
    """Run the passes over `graph` -> (optimized graph, [PassReport per pass]).

    `observe(index, name, graph)`, if given, sees the raw graph (index 0, "raw") and the
    graph after each pass; that is how `dump_dir` writes 00_raw.dot, 01_fold_constants.dot...

    >>> import graphc as gc
    >>> x = gc.tensor("x", (3,)); g, report = optimize(gc.Graph.of([-(-x)]), ["simplify"])
    >>> report[0].nodes_before, report[0].nodes_after
    (3, 1)
    """
    chosen = resolve(passes, opt_level, fast_math)
    watchers = [w for w in (observe, _dumper(dump_dir)) if w is not None]
    for w in watchers:
        w(0, "raw", graph)
    report = []
    for k, p in enumerate(chosen, start=1):
        name = getattr(p, "__name__", f"pass{k}")
        before = len(graph)
        with recording() as changes:
            out = p(graph)
        _check(name, graph, out)
        graph = out
        report.append(PassReport(name, before, len(graph), dict(changes)))
        for w in watchers:
            w(k, name, graph)
    return graph, report


def _check(name: str, before: Graph, after) -> None:
    if not isinstance(after, Graph):
        raise TypeError(f"pass {name!r} returned {type(after).__name__}, not a Graph")
    if len(after.inputs) != len(before.inputs) or \
            any(a is not b for a, b in zip(after.inputs, before.inputs)) or \
            len(after.outputs) != len(before.outputs):
        raise ValueError(f"pass {name!r} changed the graph's inputs or its number of outputs")
    for k, (a, b) in enumerate(zip(after.outputs, before.outputs)):
        if a.dtype != b.dtype or not same_shape(a.shape, b.shape):
            raise ValueError(f"pass {name!r} changed output {k} from {fmt_shape(b.shape)} "
                             f"{b.dtype} to {fmt_shape(a.shape)} {a.dtype}")


def _dumper(dump_dir):
    """An observer writing NN_name.dot per step, or None when dumping is off."""
    path = dump_dir if dump_dir is not None else os.environ.get(DUMP_ENV) or None
    if path is None:
        return None
    from ..viz.dot import to_dot
    os.makedirs(path, exist_ok=True)

    def write(index: int, name: str, graph: Graph) -> None:
        title = f"{index:02d} {name}: {len(graph)} nodes"
        with open(os.path.join(path, f"{index:02d}_{name}.dot"), "w") as f:
            f.write(to_dot(graph.outputs, title=title))
    return write
