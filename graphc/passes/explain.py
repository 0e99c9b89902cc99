"""gc.explain: what the optimizer did to a graph, pass by pass, in words.

For each pass: the node count before and after, and what changed (the rewrites each rule
applied, nodes merged, dead nodes removed, groups fused, read from the passes' records and
from the `fused` attribute of new nodes). Then the kernels the optimized graph launches, and
for each elementwise op left unfused, why (as fuse_elementwise reports it).
"""
from __future__ import annotations

from collections import Counter

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.shapes import fmt_shape
from .pipeline import optimize


def explain(outputs, passes=None, opt_level=None, fast_math: bool = False) -> str:
    """A printable report of the pass pipeline over `outputs` (tensors, a Graph, or a
    function gc.compile made: then also how its kernels ran at the sizes it was called with,
    BLAS or generated for each contraction as measured on this machine).

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 3)); print(gc.explain((-(-x)).sum()))  # doctest: +ELLIPSIS
    graphc.explain: 1 output, 4 nodes -> 2 nodes...
    """
    compiled = outputs if hasattr(outputs, "impl") and hasattr(outputs, "raw_graph") else None
    if compiled is not None:
        outputs = compiled.raw_graph
    graph = outputs if isinstance(outputs, Graph) else Graph.of(
        [outputs] if isinstance(outputs, Node) else list(outputs))
    steps: list[Graph] = []
    final, report = optimize(graph, passes=passes, opt_level=opt_level, fast_math=fast_math,
                             observe=lambda k, name, g: steps.append(g))
    lines = [_headline(graph, final)]
    lines += _pass_lines(report, steps)
    lines += _kernel_lines(final)
    lines += _unfused_lines(final)
    lines += _lowering_lines(final)
    lines += _fast_math_lines(report, fast_math)
    if compiled is not None:
        lines += _compiled_lines(compiled)
    return "\n".join(lines)


def _compiled_lines(f) -> list[str]:
    """The kernels of a compiled function as its backend runs them (f.kernels)."""
    kernels = getattr(f.impl, "kernels", None)
    if not kernels:
        return ["", f"backend {f.backend}: runs the graph's ops one by one"]
    segments = getattr(getattr(f.impl, "module_source", None), "segments", None)
    on_host = sum("reference" in k.runs for k in kernels)
    if segments is not None:  # the cpu driver: native segments, references between them
        native = sum(kind == "native" for kind, _ in segments)
        how = "one native call per step" if native == 1 and not on_host else \
            f"{native} native calls per step, {on_host} NumPy reference(s) between them"
    else:
        how = "launched in order" + (f", {on_host} by their NumPy reference on the host"
                                     if on_host else "")
    lines = ["", f"backend {f.backend}: {len(kernels)} kernels, {how}"]
    lines += [f"  {k.name}: {'+'.join(k.provenance)}: {k.runs}" for k in kernels]
    return lines


def _headline(raw: Graph, final: Graph) -> str:
    n = len(raw.outputs)
    return (f"graphc.explain: {n} output{'s' if n != 1 else ''}, {len(raw)} nodes -> "
            f"{len(final)} nodes, {len(_kernels(raw))} kernels -> {len(_kernels(final))} "
            f"kernels")


def _pass_lines(report, steps) -> list[str]:
    lines = ["", f"{'#':>2}  {'pass':<33} {'nodes':<13} what changed"]
    for k, r in enumerate(report, start=1):
        changes = _changes(r.changes) + _fused_groups(steps[k - 1], steps[k])
        head = f"{k:>2}  {r.name:<33} {f'{r.nodes_before} -> {r.nodes_after}':<13} "
        lines.append(head + (changes[0] if changes else "nothing"))
        lines += [" " * len(head) + c for c in changes[1:]]
    return lines


def _changes(changes: dict) -> list[str]:
    from .fast_math import FAST_MATH_RULES_BY_NAME
    from .simplify import RULES_BY_NAME
    out = []
    for what, count in sorted(changes.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = RULES_BY_NAME.get(what) or FAST_MATH_RULES_BY_NAME.get(what)
        fast = " (fast-math)" if what in FAST_MATH_RULES_BY_NAME else ""
        out.append(f"{what} x{count}{fast}" + (f"  [{rule.identity}]" if rule else ""))
    return out


def _lowering_lines(graph: Graph) -> list[str]:
    """How a native backend (cpu, cuda) lays the kernels out: layout ops that are access maps
    and those that need a copy, how contractions can run, and the memory plan."""
    from ..lower import lower
    from ..lower.program import ContractKernel
    try:
        program = lower(graph)
    except Exception as e:  # a report must not fail where compiling would say more
        return ["", f"lowering: not possible ({type(e).__name__}: {e})"]
    # copies a layout op needs, gathers that check their indices, what runs its reference
    copies = program.decisions or ["none: every layout op is an access map"]
    lines = ["", "lowering for the native backends (cpu, cuda):",
             "  decisions: " + copies[0]] + [f"             {d}" for d in copies[1:]]
    for k in program.kernels:
        if isinstance(k, ContractKernel):
            layout = k.dense_layout()
            how = (f"BLAS (A {layout[0]}, B {layout[1]}, result {layout[2]}) or generated, "
                   f"whichever is faster for the call's shape" if layout else
                   "generated (operands not dense matrices for BLAS)")
            lines.append(f"  {k.name}: {'+'.join(k.provenance)}: {how}, {k.schedule}")
    lines.append(f"  memory: {program.plan.describe()}")
    return lines


def _fast_math_lines(report, fast_math: bool) -> list[str]:
    """Which value-changing rewrites fired: what a user trades for speed with fast_math."""
    from .fast_math import FAST_MATH_RULES_BY_NAME
    fired = Counter()
    for r in report:
        fired.update({k: v for k, v in r.changes.items() if k in FAST_MATH_RULES_BY_NAME})
    if not fast_math and not fired:
        return ["", "fast-math: off (every rewrite above is exact for NaN, +-Inf, +-0 and "
                "empty axes)"]
    if not fired:
        return ["", "fast-math: on, and no value-changing rewrite fired"]
    shown = ", ".join(f"{k} x{v}" for k, v in sorted(fired.items()))
    return ["", f"fast-math rewrites that fired (results may differ on NaN, Inf, -0 or by "
                f"rounding): {shown}"]


def _fused_groups(before: Graph, after: Graph) -> list[str]:
    """The fused kernels the pass made (a pass that only annotates fused nodes, as tile
    does, made none), by the ops they fused."""
    groups = _groups(after) - _groups(before)
    if not groups:
        return []
    total = sum(groups.values())
    shown = ", ".join(f"{g}" + (f" (x{c})" if c > 1 else "") for g, c in groups.most_common())
    return [f"fused {total} group{'s' if total != 1 else ''}: {shown}"]


def _groups(graph: Graph) -> Counter:
    return Counter("+".join(n.attrs["fused"]) for n in graph.nodes() if n.attrs.get("fused"))


def _kernels(graph: Graph) -> list[Node]:
    from ..cost import kernels_of
    return kernels_of(graph)


def _kernel_lines(graph: Graph) -> list[str]:
    from ..cost import clip, describe, node_cost
    ks = _kernels(graph)
    lines = ["", f"kernels after ({len(ks)}):"]
    for k, n in enumerate(ks):
        c = node_cost(n)
        extra = f"  {n.attrs['schedule']}" if "schedule" in n.attrs else ""
        lines.append(f"  {k:>2}  {clip(describe(n), 40):<40} {fmt_shape(n.shape):<14} {n.dtype:<8} "
                     f"FLOPs {c.flops}{extra}")
    return lines


def _unfused_lines(graph: Graph) -> list[str]:
    try:
        from .fuse_elementwise import unfused_reasons
    except ImportError:  # fusion that cannot say why is not there yet
        return []
    reasons = unfused_reasons(graph)
    if not reasons:
        return []
    by_id = {id(n): n for n in graph.nodes()}
    lines = ["", f"elementwise ops left unfused ({len(reasons)}):"]
    for node_id, why in reasons.items():
        n = by_id.get(node_id)
        label = f"{n.attrs['body'].name} {fmt_shape(n.shape)}" if n is not None else str(node_id)
        lines.append(f"  {label}: {why}")
    return lines
