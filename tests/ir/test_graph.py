"""Walks over a graph: topological order, inputs, users, Graph, networkx export. Mirrors
graphc/ir/graph.py."""
import graphc as gc
from graphc.ir.graph import Graph, graph_inputs, to_networkx, topo_order, users


def test_topo_order_puts_inputs_before_users_and_visits_each_once():
    x, w = gc.tensor("x", (2, 3)), gc.tensor("w", (3, 4))
    h = x @ w
    y = gc.sum(h * h)
    order = topo_order([y])
    pos = {id(n): k for k, n in enumerate(order)}
    assert len(order) == len({id(n) for n in order}) == 5
    for n in order:
        assert all(pos[id(i)] < pos[id(n)] for i in n.inputs)
    assert order[-1] is y


def test_deep_graphs_do_not_recurse():
    x = gc.tensor("x", (2,))
    y = x
    for _ in range(5000):
        y = y + 1.0
    assert len(topo_order([y])) == 5001
    assert len(Graph.of([y])) == 5001


def test_graph_inputs_in_order_of_first_use():
    a, b, c = gc.tensor("a", ()), gc.tensor("b", ()), gc.tensor("c", ())
    y = (b * c) + a
    assert [n.name for n in graph_inputs([y])] == ["b", "c", "a"]
    g = Graph.of([y], inputs=[a, b, c])
    assert [n.name for n in g.inputs] == ["a", "b", "c"] and g.outputs == (y,)
    assert [n.name for n in Graph.of([y]).inputs] == ["b", "c", "a"]
    assert g.nodes() == topo_order([y])


def test_users_count_repeated_reads():
    x = gc.tensor("x", (3,))
    sq = x @ gc.reshape(x, (3, 1))
    y = gc.sum(sq + x)
    u = users([y])
    assert len(u[id(x)]) == 3  # by the matmul, its reshaped operand and the add
    assert [n.op for n in u[id(sq)]] == ["elementwise"]
    assert id(y) not in u


def test_to_networkx_has_every_node_and_edge():
    x, w = gc.tensor("x", (2, 3)), gc.tensor("w", (3, 4))
    y = gc.sum(x @ w)
    g = to_networkx([y])
    assert g.number_of_nodes() == 4 and g.number_of_edges() == 3
    mm = next(n for n in topo_order([y]) if n.op == "matmul")
    assert g.edges[id(w), id(mm)]["index"] == 1 and g.nodes[id(mm)]["node"] is mm
    import networkx as nx
    assert nx.is_directed_acyclic_graph(g)
