"""The reverse-mode driver: fan-out sums, unbroadcasting, zero gradients, only the nodes on a
path are visited, gradient nodes are marked, and bad calls fail clearly. Mirrors
graphc/grad/driver.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.graph import topo_order
from graphc.ir.shapes import dim

RNG = np.random.default_rng(4)


def test_fan_out_gradients_are_summed():
    x = gc.tensor("x", (4,), "float64")
    y = gc.sum(x * x + 3.0 * x + gc.exp(x))  # x read four times
    a = RNG.standard_normal(4)
    g = gc.compile(gc.grad(y, x))(x=a)
    np.testing.assert_allclose(g, 2 * a + 3 + np.exp(a), rtol=1e-12)


def test_broadcast_operands_get_gradients_of_their_own_shape():
    x, b, s = gc.tensor("x", (3, 4), "float64"), gc.tensor("b", (4,), "float64"), \
        gc.tensor("s", (), "float64")
    y = gc.sum((x + b) * s)
    gx, gb, gs = gc.grad(y, [x, b, s])
    assert (gx.shape, gb.shape, gs.shape) == (x.shape, b.shape, ())
    vx, vb, vs = RNG.standard_normal((3, 4)), RNG.standard_normal(4), np.float64(1.5)
    rx, rb, rs = gc.compile([gx, gb, gs])(x=vx, b=vb, s=vs)
    np.testing.assert_allclose(rx, np.full((3, 4), 1.5))
    np.testing.assert_allclose(rb, np.full(4, 3 * 1.5))
    np.testing.assert_allclose(rs, (vx + vb).sum(), rtol=1e-12)


def test_gradient_keeps_the_inputs_dtype():
    x = gc.tensor("x", (3,), "float32")
    y = gc.sum(gc.astype(x, "float64") * gc.constant(np.ones(3), dtype="float64"))
    assert gc.grad(y, x).dtype == "float32"


def test_unrelated_input_gets_zeros_of_its_shape():
    x, z = gc.tensor("x", ("B", 3)), gc.tensor("z", ("B", 2, 5))
    y = gc.sum(x * x)
    gx, gz = gc.grad(y, [x, z])
    assert gz.shape == z.shape and gz.dtype == "float32"
    f = gc.compile([gx, gz], inputs=[x, z])
    rx, rz = f(x=np.ones((4, 3), np.float32), z=np.ones((4, 2, 5), np.float32))
    np.testing.assert_array_equal(rz, np.zeros((4, 2, 5), np.float32))
    assert rz.dtype == np.float32 and rz.flags.writeable
    np.testing.assert_array_equal(rx, np.full((4, 3), 2.0, np.float32))


def test_single_target_gives_a_single_gradient_and_a_list_a_list():
    x = gc.tensor("x", (2,))
    y = gc.sum(x)
    assert isinstance(gc.grad(y, x), gc.Tensor)
    out = gc.grad(y, [x])
    assert isinstance(out, list) and len(out) == 1


def test_gradient_with_respect_to_an_intermediate_node():
    x = gc.tensor("x", (3,), "float64")
    h = gc.tanh(x)
    y = gc.sum(h * h)
    gh = gc.grad(y, h)
    a = RNG.standard_normal(3)
    np.testing.assert_allclose(gc.compile(gh)(x=a), 2 * np.tanh(a), rtol=1e-12)
    assert float(gc.compile(gc.grad(y, y))()) == 1.0  # dy/dy reads no input


def test_only_nodes_between_wrt_and_y_are_visited():
    a, c = gc.tensor("a", (3,), "float64"), gc.tensor("c", (3,), "float64")
    y = gc.sum(a * 2.0) + gc.sum(gc.exp(gc.tanh(c)))
    ga = gc.grad(y, a)
    names = {n.attrs["body"].name for n in topo_order([ga]) if n.op == "elementwise"}
    assert not any("exp" in s or "tanh" in s for s in names), names
    assert "c" not in {n.name for n in topo_order([ga]) if n.op == "input"}


def test_gradient_skips_integer_paths():
    """cross_entropy reads labels through one_hot, which has no gradient: never visited."""
    logits, labels = gc.tensor("logits", (4, 3), "float64"), gc.tensor("labels", (4,), "int64")
    loss = gc.cross_entropy(logits, labels)
    g = gc.grad(loss, logits)
    assert g.shape == logits.shape
    # a float -> int cast is piecewise constant: no gradient flows through it
    x = gc.tensor("x", (3,), "float64")
    y = gc.sum(gc.astype(gc.astype(x * 2.5, "int64"), "float64") + x)
    np.testing.assert_array_equal(gc.compile(gc.grad(y, x), inputs=[x])(x=np.ones(3)),
                                  np.ones(3))


def test_gradient_nodes_are_marked_grad():
    x = gc.tensor("x", (3,))
    y = gc.sum(gc.tanh(x))
    g = gc.grad(y, x)
    forward = {id(n) for n in topo_order([y])}
    new = [n for n in topo_order([g]) if id(n) not in forward]
    assert new and all(n.origin == "grad" for n in new)
    assert all(n.origin == "forward" for n in topo_order([y]))


def test_gradient_of_a_symbolic_shape_graph_serves_every_batch():
    x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3, 2))
    loss = gc.mean((x @ w) ** 2)
    gw = gc.grad(loss, w)
    assert gw.shape == (3, 2)
    f = gc.compile([loss, gw])
    for batch in (1, 6):
        vx = RNG.standard_normal((batch, 3)).astype(np.float32)
        vw = RNG.standard_normal((3, 2)).astype(np.float32)
        lv, gv = f(x=vx, w=vw)
        np.testing.assert_allclose(lv, ((vx @ vw) ** 2).mean(), rtol=1e-5)
        np.testing.assert_allclose(gv, 2 * vx.T @ (vx @ vw) / (batch * 2), rtol=1e-5)
    assert dim("B") not in gw.shape


def test_grad_argument_errors():
    x = gc.tensor("x", (3,))
    with pytest.raises(gc.ShapeError, match=r"scalar.*\(3,\)"):
        gc.grad(x * 2, [x])
    with pytest.raises(TypeError, match="y must be a graphc tensor"):
        gc.grad(1.0, [x])
    with pytest.raises(TypeError, match="int64"):
        gc.grad(gc.sum(x), [gc.tensor("labels", (3,), "int64")])
    with pytest.raises(TypeError, match="wrt must hold graphc tensors"):
        gc.grad(gc.sum(x), [np.zeros(3)])
    with pytest.raises(TypeError, match="wrt must be a tensor or a list of tensors, got NoneType"):
        gc.grad(gc.sum(x), None)
    with pytest.raises(TypeError, match="float"):
        gc.grad(gc.sum(gc.tensor("i", (3,), "int64")), [x])


def test_an_integer_value_on_the_way_cuts_the_path():
    # one_hot has no vjp, but the labels it reads are integers computed from x: no gradient
    # flows through them, so dy/dx is only the direct term, not a "no gradient" error
    x = gc.tensor("x", (3,), "float64")
    w = gc.tensor("w", (3, 4), "float64")
    labels = gc.astype(x, "int64")
    y = gc.sum(gc.one_hot(labels, 4, "float64") * w) + gc.sum(x * x)
    gx, gw = gc.compile(gc.grad(y, [x, w]), inputs=[x, w])(x=np.array([0.0, 1.0, 2.0]),
                                                         w=np.ones((3, 4)))
    np.testing.assert_array_equal(gx, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(gw, np.eye(4)[[0, 1, 2]])


def test_a_bias_broadcast_over_leading_and_inner_axes_is_summed_in_one_reduction():
    x, b = gc.tensor("x", ("N", 3, 4, 5)), gc.tensor("b", (3, 1, 1))
    (gb,) = gc.grad(gc.sum(gc.tanh(x + b)), [b])
    assert gb.op == "reshape" and gb.inputs[0].op == "sum"
    assert gb.inputs[0].attrs["axes"] == (0, 2, 3)
    X, B = np.random.default_rng(0).standard_normal((2, 3, 4, 5)), np.ones((3, 1, 1))
    want = (1 - np.tanh(X + B) ** 2).sum(axis=(0, 2, 3), keepdims=True)[0]
    np.testing.assert_allclose(gc.compile(gb)(x=X.astype(np.float32), b=B.astype(np.float32)),
                               want, rtol=1e-5)
