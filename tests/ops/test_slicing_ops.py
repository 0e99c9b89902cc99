"""Indexing (`x[...]`, the slice view), pad, concat, stack and split: forward against NumPy
for random basic indices, symbolic bounds and their call-time check, out-of-range indices at
build time, gradients (scatter into zeros) against finite differences and torch. Mirrors
graphc/ops/slicing.py and graphc/indexing.py."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.passes.kernels import kernels

RNG = np.random.default_rng(3)
SHAPE = (4, 5, 3)


def bound(n):
    return st.one_of(st.none(), st.integers(-n - 2, n + 2))


@st.composite
def basic_index(draw):
    """A NumPy basic index for SHAPE: ints, slices with steps, None, one Ellipsis."""
    items, axis, rest = [], 0, False  # after an Ellipsis, items index the trailing axes
    while axis < len(SHAPE) and (rest or draw(st.booleans())):
        n = SHAPE[axis]
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            step = draw(st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2])))
            items.append(slice(draw(bound(n)), draw(bound(n)), step))
        elif kind == "none":
            items.append(None)
            continue
        elif not rest:
            items.append(Ellipsis)
            axis, rest = len(SHAPE) - draw(st.integers(0, len(SHAPE) - axis)), True
            continue
        else:  # a second Ellipsis is not allowed: a full slice instead
            items.append(slice(None))
        axis += 1
    return tuple(items) if len(items) != 1 or draw(st.booleans()) else items[0]


@settings(max_examples=120, deadline=None)
@given(index=basic_index())
def test_basic_indexing_matches_numpy_forward_and_backward(index):
    x = gc.tensor("x", SHAPE, "float64")
    X = RNG.standard_normal(SHAPE)
    want = X[index]
    y = x[index]
    assert y.shape == want.shape, index
    got = gc.compile(y)(x=X)
    np.testing.assert_array_equal(got, want)
    # the gradient writes the cotangent back at the positions read, zeros elsewhere
    G = RNG.standard_normal(want.shape)
    (gx,) = gc.grad(gc.sum(y * gc.constant(G, "float64")), [x])
    expected = np.zeros(SHAPE)
    expected[index] += G
    np.testing.assert_array_equal(gc.compile(gx, inputs=[x])(x=X), expected)


def test_symbolic_axes_keep_symbolic_bounds():
    x = gc.tensor("x", ("B", "T", 4))
    cases = [((slice(None), slice(1, None)), "(B, T - 1, 4)"),
             ((slice(None), slice(None, -1)), "(B, T - 1, 4)"),
             ((Ellipsis, slice(None, None, -1)), "(B, T, 4)"),
             ((0, slice(2, None, 2)), "(ceiling(T/2) - 1, 4)"),
             ((slice(None), -1), "(B, 4)"),
             ((slice(None), slice(None, None, -2), None), "(B, ceiling(T/2), 1, 4)")]
    f = gc.compile([x[k] for k, _ in cases], inputs=[x])
    assert [str(x[k].shape) for k, _ in cases] == [s for _, s in cases]
    for T in (3, 4, 7):
        X = RNG.standard_normal((2, T, 4)).astype(np.float32)
        for got, (k, _) in zip(f(x=X), cases):
            np.testing.assert_array_equal(got, X[k])


def test_a_symbolic_bound_outside_its_axis_is_an_input_error_at_call_time():
    x = gc.tensor("x", ("B", "T"))
    f = gc.compile([x[:, 3:], x[:, :5], x[:, 6]])
    f(x=np.zeros((2, 7), np.float32))
    for T, what in ((2, "axis 1"), (4, "positions 0 to 4"), (6, "positions 6 to 6")):
        with pytest.raises(gc.InputError, match=f"slice: .*T = {T} \\(from input 'x'\\).*"):
            f(x=np.zeros((2, T), np.float32))
    with pytest.raises(gc.InputError, match="positions 6 to 6"):
        f(x=np.zeros((2, 6), np.float32))


def test_out_of_range_indices_are_shape_errors_and_index_errors_when_built():
    x = gc.tensor("x", ("B", 3, 4))
    for bad in [(0, 3), (0, -4), (0, 0, 4), (0, 1, 2, 3), (Ellipsis, 0, Ellipsis)]:
        with pytest.raises(gc.ShapeError) as e:
            x[bad]
        assert isinstance(e.value, IndexError)
    assert "index 3 is out of range for axis 1 of size 3" in str(pytest.raises(
        IndexError, lambda: x[:, 3]).value)
    with pytest.raises(gc.ShapeError, match="slice step cannot be zero"):
        x[::0]
    with pytest.raises(TypeError, match="use gc.take"):
        x[gc.tensor("i", (2,), "int64")]
    with pytest.raises(TypeError, match="index must be an int"):
        x[1.5]
    assert x[:, 5:].shape[1] == 0 and x[:, 1:100].shape[1] == 2  # slices clip, as NumPy


def test_slice_and_pad_are_adjoint_and_pad_has_its_own_gradient():
    x = gc.tensor("x", (3, 4), "float64")
    p = gc.functional.pad2d(x, (1, 2))
    assert p.op == "pad" and p.shape == (5, 8)
    X = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(gc.compile(p)(x=X), np.pad(X, ((1, 1), (2, 2))))
    gc.check_grad(gc.sum(p * gc.constant(RNG.standard_normal((5, 8)), "float64")), [x],
                  {"x": X})
    # second order: d/dx of a gradient that holds a pad (a slice's cotangent)
    (g,) = gc.grad(gc.sum(x[1:, ::2] ** 3), [x])
    gc.check_grad(gc.sum(g * g), [x], {"x": X})


def test_slices_of_slices_and_whole_slices_simplify_to_one_view():
    x = gc.tensor("x", ("B", 10))
    y = x[:, 1:][:, ::2][:, 1:-1][:, :]
    f = gc.compile(y)
    views = [n for n in f.graph.nodes() if n.op == "slice"]
    assert len(views) == 1 and not kernels(f.graph)
    X = RNG.standard_normal((2, 10)).astype(np.float32)
    np.testing.assert_array_equal(f(x=X), X[:, 1:][:, ::2][:, 1:-1])


def test_concat_stack_and_split_match_numpy():
    a, b = gc.tensor("a", ("B", 2), "float64"), gc.tensor("b", ("B", 3), "float32")
    A, Bv = RNG.standard_normal((4, 2)), RNG.standard_normal((4, 3)).astype(np.float32)
    c = gc.concat([a, b, a], axis=-1)
    assert c.shape[1] == 7 and c.dtype == "float64" and c.op == "concat"
    s = gc.stack([a, a * 2, a * 3], axis=1)
    assert str(s.shape) == "(B, 3, 2)"
    p1, p2, p3 = gc.split(c, [2, 3, 2], axis=1)
    q1, q2 = gc.split(gc.tensor("e", ("B", 6)), 2, axis=1)
    assert str(q1.shape) == "(B, 3)" and p2.dtype == "float64"
    f = gc.compile([c, s, p1, p2, p3, gc.stack([a], axis=-1)], inputs=[a, b])
    got = f(a=A, b=Bv)
    want = [np.concatenate([A, Bv, A], -1), np.stack([A, 2 * A, 3 * A], 1),
            *np.split(np.concatenate([A, Bv, A], -1), [2, 5], axis=1), np.stack([A], -1)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert gc.concat([a]) is a


def test_concat_and_split_errors_name_the_shapes():
    a, b = gc.tensor("a", (2, 3)), gc.tensor("b", (3, 3))
    with pytest.raises(gc.ShapeError, match=r"concat: shapes \(2, 3\), \(3, 3\) differ outside "
                                            r"axis 1"):
        gc.concat([a, b], axis=1)
    with pytest.raises(gc.ShapeError, match="stack: all tensors need one shape"):
        gc.stack([a, b])
    with pytest.raises(gc.ShapeError, match=r"does not split into 2 equal parts"):
        gc.split(b, 2)
    with pytest.raises(gc.ShapeError, match=r"do not add up to axis 1"):
        gc.split(a, [1, 1], axis=1)
    with pytest.raises(TypeError, match="a list or tuple of tensors"):
        gc.concat(a)


def test_gradients_of_concat_stack_split_against_finite_differences_and_torch():
    torch = pytest.importorskip("torch")
    a, b = gc.tensor("a", (3, 2), "float64"), gc.tensor("b", (3, 4), "float64")
    A, Bv = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 4))
    w = RNG.standard_normal((2, 3, 6))
    c = gc.stack([gc.concat([a, b], 1), gc.concat([b[:, ::-1], a * a], 1)])
    u, v = gc.split(c, [1, 5], axis=2)
    loss = gc.sum(gc.tanh(u) * 2.0) + gc.sum(v * gc.constant(w[..., 1:], "float64"))
    gc.check_grad(loss, [a, b], {"a": A, "b": Bv})
    got = gc.compile(gc.grad(loss, [a, b]))(a=A, b=Bv)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (A, Bv))
    tc = torch.stack([torch.cat([ta, tb], 1), torch.cat([tb.flip(1), ta * ta], 1)])
    tu, tv = torch.split(tc, [1, 5], dim=2)
    (torch.tanh(tu).sum() * 2 + (tv * torch.tensor(w[..., 1:])).sum()).backward()
    np.testing.assert_allclose(got[0], ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[1], tb.grad.numpy(), rtol=1e-12)


def test_the_cotangents_of_a_split_join_into_one_concat():
    x = gc.tensor("x", ("B", 9), "float64")
    q, k, v = gc.split(x, 3, axis=1)
    (g,) = gc.grad(gc.sum(gc.exp(q)) + gc.sum(k * k) + gc.sum(gc.tanh(v)), [x])
    assert g.op == "concat"
    # pieces that do not cover the axis: one concat, padded with zeros
    (g2,) = gc.grad(gc.sum(gc.exp(x[:, 2:4])) + gc.sum(x[:, 4:7] * 3.0), [x])
    assert g2.op == "pad" and g2.inputs[0].op == "concat"
    X = RNG.standard_normal((2, 9))
    got, got2 = gc.compile([g, g2], inputs=[x])(x=X)
    np.testing.assert_allclose(got, np.concatenate([np.exp(X[:, :3]), 2 * X[:, 3:6],
                                                    1 - np.tanh(X[:, 6:]) ** 2], 1))
    np.testing.assert_allclose(got2[:, 2:7], np.concatenate([np.exp(X[:, 2:4]),
                                                              np.full((2, 3), 3.0)], 1))
    assert not got2[:, :2].any() and not got2[:, 7:].any()
