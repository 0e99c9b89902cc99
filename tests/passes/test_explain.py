import os

import numpy as np
import sympy

import graphc as gc
import graphc.passes.fuse_elementwise as fuse_module
from graphc.ir.graph import Graph
from graphc.ir.body import BodyBuilder
from graphc.ir.node import make
from graphc.ir.scalar import ScalarFn
from graphc.ops.elementwise import ADD, RELU
from graphc.passes.pipeline import DUMP_ENV, optimize, resolve
from graphc.passes.rewrite import keep, note, rewrite

x_, y_ = sympy.symbols("x y")


def second_derivative():
    x = gc.tensor("x", (5,))
    return gc.grad(gc.sum(gc.grad(gc.sum(gc.tanh(x)), x)), x)


def test_explain_reports_each_pass_with_node_counts_and_rule_names():
    h = second_derivative()
    text = gc.explain(h)
    graph, report = optimize(gc.Graph.of([h]))
    assert text.startswith(f"graphc.explain: 1 output, 10 nodes -> {len(graph)} nodes")
    for k, r in enumerate(report, start=1):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{k:>2}  {r.name} "))
        assert f"{r.nodes_before} -> {r.nodes_after}" in line
    assert "folded x4" in text
    assert "inline_constant x1  [f(x, c) = f(x, literal c) for a uniform constant c]" in text
    assert "fast-math: off" in text
    assert f"kernels after ({len(gc.cost(h).optimized.rows)}):" in text


def test_explain_names_merges_and_dead_nodes():
    a, b = gc.tensor("a", (3,)), gc.tensor("b", (3,))
    wasteful = gc.apply(ScalarFn("first", (x_, y_), 2 * x_), gc.exp(a) + gc.exp(a), gc.tanh(b))
    text = gc.explain(wasteful, opt_level=1)
    lines = {ln.split()[1]: ln for ln in text.splitlines() if ln[:2].strip().isdigit()}
    assert "merged x1" in lines["eliminate_common_subexpressions"]
    assert "operands merged x1" in text
    assert "dead nodes removed x2" in lines["eliminate_dead_code"]  # tanh(b) and b
    assert "fuse_elementwise" not in text  # opt_level 1 stops before fusion


def fuse_add_relu(graph):
    """A stand-in fusion pass: relu(x + y) -> one elementwise node that says what it fused."""
    def visit(old, new_inputs):
        node = keep(old, new_inputs)
        inner = node.inputs[0] if node.op == "elementwise" and node.inputs else None
        if node.op != "elementwise" or node.attrs["body"].name != "relu" or \
                inner is None or inner.op != "elementwise" or inner.attrs["body"].name != "add":
            return node
        note("ops fused", 2)
        b = BodyBuilder()
        p, q = b.param(inner.inputs[0].dtype), b.param(inner.inputs[1].dtype)
        body = b.build(b.apply(RELU, [b.apply(ADD, [p, q])]))
        return make("elementwise", inner.inputs, body=body, fused=("add", "relu"))
    return rewrite(graph, visit)


def test_explain_lists_groups_fused_from_fused_attributes():
    a, b = gc.tensor("a", (4,)), gc.tensor("b", (4,))
    outputs = [gc.relu(a + b), gc.relu(b + a * 2.0)]
    text = gc.explain(outputs, passes=["simplify", fuse_add_relu, "tile"])
    line = next(ln for ln in text.splitlines() if "fuse_add_relu" in ln)
    assert "ops fused x4" in line and "fused 2 groups: add+relu (x2)" in text
    tile_line = next(ln for ln in text.splitlines() if " tile " in ln)
    assert "fused" not in tile_line  # tile made no new fused kernels
    assert "elementwise[add+relu]" in text  # the kernels list names them by what they fused


def test_explain_says_why_an_elementwise_op_was_left_unfused(monkeypatch):
    a = gc.tensor("a", (4,))
    t = gc.tanh(a)

    def reasons(graph):
        return {id(n): "feeds a graph output" for n in graph.nodes()
                if n.op == "elementwise"}
    monkeypatch.setattr(fuse_module, "unfused_reasons", reasons, raising=False)
    text = gc.explain([t, gc.exp(t)], passes=["simplify"])
    assert "elementwise ops left unfused (2):" in text
    assert "  tanh (4,): feeds a graph output" in text
    assert "  exp (4,): feeds a graph output" in text


def test_dump_dir_writes_the_graph_after_each_pass(tmp_path):
    x = gc.tensor("x", ("B", 3))
    f = gc.compile(gc.sum(gc.neg(gc.neg(x))), dump_dir=str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert names == ["00_raw.dot"] + [f"{k:02d}_{p.__name__}.dot"
                                      for k, p in enumerate(resolve(), start=1)]
    raw = (tmp_path / "00_raw.dot").read_text()
    simplified = (tmp_path / "02_simplify.dot").read_text()
    assert raw.startswith("digraph") and "00 raw: 4 nodes" in raw
    assert "02 simplify: 2 nodes" in simplified  # neg is drawn as the user wrote it: -x
    assert raw.count('label="-x') > simplified.count('label="-x')
    assert float(f(x=np.ones((2, 3), np.float32))) == 6.0


def test_the_environment_variable_turns_dumping_on(tmp_path, monkeypatch):
    x = gc.tensor("x", (3,))
    monkeypatch.setenv(DUMP_ENV, str(tmp_path / "dumps"))
    gc.compile(x * 2.0, passes=["fold_constants", "simplify"])
    assert sorted(os.listdir(tmp_path / "dumps")) == ["00_raw.dot", "01_fold_constants.dot",
                                                      "02_simplify.dot"]
    monkeypatch.delenv(DUMP_ENV)
    monkeypatch.chdir(tmp_path / "dumps")
    for f in os.listdir("."):
        os.remove(f)
    optimize(Graph.of([x * 2.0]))
    assert os.listdir(".") == []  # off unless asked for
