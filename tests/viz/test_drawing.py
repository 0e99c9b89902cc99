"""The drawing model (graphc/viz/drawing.py): a cluster per gc.nn module, forward and backward
apart; whole modules collapsed to one box; outputs of one box named together."""
import pytest

import graphc as gc
from graphc.viz import drawing
from graphc.viz.select import outputs_to_draw


class Block(gc.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = gc.nn.Linear(4, 4)
        self.out = gc.nn.Linear(4, 4)

    def forward(self, x):
        return self.out(gc.relu(self.inner(x))) + x


class Net(gc.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block(), Block()]
        self.head = gc.nn.Linear(4, 2)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


@pytest.fixture(scope="module")
def net_step():
    gc.nn.manual_seed(0)
    net = Net()
    x, y = gc.tensor("x", ("B", 4)), gc.tensor("y", ("B", 2))
    loss = gc.mse_loss(net(x), y)
    return net, loss, gc.grad(loss, net.parameters())


def draw(outputs, **options):
    outs, names = outputs_to_draw(outputs)
    return drawing.build(outs, names, **options)


def test_levels_keep_list_indices_with_their_list():
    assert drawing.module_levels("blocks.0.attn.query") == ["blocks.0", "blocks.0.attn",
                                                            "blocks.0.attn.query"]
    assert drawing.module_levels("0") == ["0"]
    assert drawing.cluster_prefixes("blocks.0.attn") == ["blocks", "blocks.0", "blocks.0.attn"]


def test_each_module_is_a_cluster_forward_and_backward_apart(net_step):
    _, loss, grads = net_step
    d = draw([loss, *grads])
    labels = {c.label for c in d.clusters.values()}
    assert {"blocks", "blocks.0", "blocks.0.inner", "blocks.1.out", "head",
            "blocks.0.inner (backward)", "head (backward)"} <= labels
    inner = d.clusters["forward:blocks.0.inner"]
    assert inner.parent == "forward:blocks.0" and d.clusters[inner.parent].parent == \
        "forward:blocks"
    # a module's parameters sit in its cluster
    weight = next(b for b in d.boxes.values() if b.lines[0] == "input blocks_0_inner_weight")
    assert weight.cluster == "forward:blocks.0.inner"
    # the loss is no module's
    assert any(b.cluster is None and b.kind == "forward" for b in d.boxes.values())


def test_collapsing_by_depth_draws_a_box_per_module(net_step):
    _, loss, grads = net_step
    d = draw([loss, *grads], collapse=1)
    modules = {b.lines[0] for b in d.boxes.values() if b.module}
    assert modules == {"blocks.0", "blocks.1", "head", "blocks.0 (backward)",
                       "blocks.1 (backward)", "head (backward)"}
    block = next(b for b in d.boxes.values() if b.lines[0] == "blocks.0")
    assert block.lines[1] == "6 ops, 4 parameters"  # 2 Linear (matmul, add), relu, the + x
    assert not any(b.lines[0].startswith("input blocks") for b in d.boxes.values())
    assert d.clusters == {}  # a bare list ("blocks") frames nothing
    assert len(draw([loss, *grads], collapse=True).boxes) == len(d.boxes)
    assert {b.lines[0] for b in draw([loss], collapse=2).boxes.values() if b.module} == \
        {"blocks.0", "blocks.0.inner", "blocks.0.out", "blocks.1", "blocks.1.inner",
         "blocks.1.out", "head"}


def test_collapsing_by_name_keeps_the_rest_open(net_step):
    _, loss, _ = net_step
    d = draw([loss], collapse=["blocks.0.inner"])
    box = next(b for b in d.boxes.values() if b.module)
    assert box.lines[0] == "blocks.0.inner" and box.cluster == "forward:blocks.0"
    assert any(b.lines[0] == "input blocks_0_out_weight" for b in d.boxes.values())
    with pytest.raises(ValueError, match=r"no module 'blocks.7'.*its modules are: blocks, "):
        draw([loss], collapse=["blocks.7"])
    with pytest.raises(ValueError, match="at least 1"):
        draw([loss], collapse=0)


def test_many_outputs_of_one_box_share_one_name_box(net_step):
    _, loss, grads = net_step
    d = draw([loss, *grads], collapse=1)
    named = [b.lines for b in d.boxes.values() if b.kind == "output"]
    assert ["loss"] in named
    assert ["grad blocks_0_inner_weight", "grad blocks_0_inner_bias", "+2 more"] in named
    assert sum(e.output for e in d.edges) == len(named)


def test_edges_between_modules_are_drawn_once(net_step):
    _, loss, grads = net_step
    d = draw([loss, *grads], collapse=1)
    pairs = [(e.src, e.dst) for e in d.edges]
    assert len(pairs) == len(set(pairs))
    assert ("m_forward_blocks_0", "m_forward_blocks_1") in pairs
