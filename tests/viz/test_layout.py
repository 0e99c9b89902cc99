"""graphc's layered layout (graphc/viz/layout.py): boxes never overlap, every edge runs
downwards through its waypoints, an input sits just above its first user, and a module's
boxes stay together in a layer."""
import itertools

import pytest

import graphc as gc
from graphc.viz import drawing
from graphc.viz.layout import GAP_X, layout
from graphc.viz.select import outputs_to_draw


def laid_out(outputs, **options):
    outs, names = outputs_to_draw(outputs)
    d = drawing.build(outs, names, **options)
    return d, layout(d)


@pytest.fixture(scope="module")
def mlp():
    x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), dtype="int64")
    W1, b1 = gc.tensor("W1", (6, 5)), gc.tensor("b1", (5,))
    W2, b2 = gc.tensor("W2", (5, 3)), gc.tensor("b2", (3,))
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, y)
    return [loss, *gc.grad(loss, [W1, b1, W2, b2])]


def test_every_box_is_placed_and_none_overlap(mlp):
    d, lay = laid_out(mlp)
    assert set(lay.boxes) == set(d.boxes)
    for a, b in itertools.combinations(lay.boxes.values(), 2):
        apart_x = abs(a.x - b.x) >= (a.w + b.w) / 2 + GAP_X - 1e-6
        apart_y = a.y + a.h <= b.y or b.y + b.h <= a.y
        assert apart_x or apart_y
    assert all(0 <= p.x - p.w / 2 and p.x + p.w / 2 <= lay.width for p in lay.boxes.values())


def test_edges_run_downwards_from_source_to_target(mlp):
    d, lay = laid_out(mlp)
    assert len(lay.routes) == len(d.edges)
    for e, points in lay.routes:
        src, dst = lay.boxes[e.src], lay.boxes[e.dst]
        assert points[0] == (src.x, src.y + src.h) and points[-1][1] == dst.y
        assert all(p[1] < q[1] for p, q in zip(points, points[1:]))


def test_an_input_sits_just_above_its_first_user(mlp):
    d, lay = laid_out(mlp)
    w2 = next(k for k, b in d.boxes.items() if b.lines[0] == "input W2")
    users = [lay.boxes[e.dst] for e in d.edges if e.src == w2]
    first = min(users, key=lambda p: p.y)
    below = [p for p in lay.boxes.values() if lay.boxes[w2].y + lay.boxes[w2].h < p.y < first.y]
    assert not below or all(p.y >= first.y for p in below)
    assert lay.boxes[w2].y > min(p.y for p in lay.boxes.values())  # not hung at the top


def test_cycles_between_collapsed_modules_still_lay_out():
    class Twice(gc.nn.Module):  # calls a shared module before and after its own op
        def __init__(self):
            super().__init__()
            self.shared = gc.nn.Linear(3, 3)

        def forward(self, x):
            return self.shared(gc.tanh(self.shared(x)))
    gc.nn.manual_seed(0)
    x = gc.tensor("x", ("B", 3))
    y = Twice()(x).sum()
    d, lay = laid_out(y, collapse=["shared"])
    assert set(lay.boxes) == set(d.boxes) and len(lay.routes) == len(d.edges)


def test_the_layout_is_deterministic(mlp):
    first, second = laid_out(mlp)[1], laid_out(mlp)[1]
    assert first.boxes == second.boxes and first.width == second.width
