"""Contractions: matmul (np.matmul semantics: 1-D operands, batched, broadcast batch dims)
and einsum (explicit, implicit, '...'), forward against NumPy, gradients against finite
differences and against the contraction that is their formula. Mirrors graphc/ops/contract.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.shapes import dim

RNG = np.random.default_rng(3)

MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),           # 1-D left: lifted to (1, 4), the 1 dropped again
    ((3, 4), (4,)),           # 1-D right
    ((4,), (4,)),             # vector dot: a 0-d result
    ((2, 3, 4), (4, 5)),      # batched @ matrix
    ((3, 4), (2, 4, 5)),      # matrix @ batched
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dims (2, 1) and (5,) broadcast to (2, 5)
    ((1, 3, 4), (6, 4, 2)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul_matches_numpy(sa, sb):
    a, b = gc.tensor("a", sa, "float64"), gc.tensor("b", sb, "float64")
    va, vb = RNG.standard_normal(sa), RNG.standard_normal(sb)
    y = a @ b
    expected = np.matmul(va, vb)
    assert y.shape == np.shape(expected)
    out = gc.compile(y)(a=va, b=vb)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert gc.matmul(a, b).shape == y.shape


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul_gradients_match_finite_differences(sa, sb):
    a, b = gc.tensor("a", sa, "float64"), gc.tensor("b", sb, "float64")
    out_shape = np.matmul(np.zeros(sa), np.zeros(sb)).shape
    w = gc.constant(RNG.standard_normal(out_shape), dtype="float64")
    loss = gc.sum((a @ b) * w)
    errs = gc.check_grad(loss, [a, b], {"a": RNG.standard_normal(sa),
                                        "b": RNG.standard_normal(sb)})
    assert errs["a"] < 1e-8 and errs["b"] < 1e-8
    ga, gb = gc.grad(loss, [a, b])
    assert ga.shape == a.shape and gb.shape == b.shape


def test_matmul_gradient_is_a_contraction():
    """d(A@B) = g Bᵀ for A and Aᵀ g for B, with batch axes B broadcast summed away."""
    a, b = gc.tensor("a", (2, 3, 4), "float64"), gc.tensor("b", (4, 5), "float64")
    va, vb, vg = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4, 5)), \
        RNG.standard_normal((2, 3, 5))
    loss = gc.sum((a @ b) * gc.constant(vg, dtype="float64"))
    ga, gb = gc.compile(gc.grad(loss, [a, b]))(a=va, b=vb)
    np.testing.assert_allclose(ga, vg @ vb.T, rtol=1e-12)
    np.testing.assert_allclose(gb, np.einsum("bik,bij->kj", va, vg), rtol=1e-12)


def test_matmul_with_symbolic_batch():
    x, w = gc.tensor("x", ("B", "T", 4)), gc.tensor("w", (4, 2))
    y = x @ w
    assert y.shape == (dim("B"), dim("T"), 2)
    f = gc.compile(y)
    for shape in ((1, 1, 4), (3, 5, 4)):
        vx = RNG.standard_normal(shape).astype(np.float32)
        vw = RNG.standard_normal((4, 2)).astype(np.float32)
        np.testing.assert_allclose(f(x=vx, w=vw), vx @ vw, rtol=1e-5, atol=1e-6)


def test_ndarray_at_tensor_uses_the_tensor_operator():
    w = gc.tensor("w", (4, 2), "float64")
    m = RNG.standard_normal((3, 4))
    y = m @ w  # NumPy defers to the tensor's __rmatmul__
    assert isinstance(y, gc.Tensor) and y.shape == (3, 2)
    vw = RNG.standard_normal((4, 2))
    np.testing.assert_allclose(gc.compile(y)(w=vw), m @ vw)


EINSUMS = [
    ("bd,de->be", [(3, 4), (4, 5)]),
    ("bik,bkj->bij", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),                # implicit output: sorted unrepeated letters
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ijk,ik->j", [(2, 3, 4), (2, 4)]),         # an index (i, k) summed, j kept from one side
    ("ij,k->ik", [(3, 4), (5,)]),               # j summed inside operand 0 alone
    # '...' of different widths right-aligns, as numpy: a batch against one unbatched operand
    ("...i,...i->...", [(2, 3), (3,)]),
    ("...ij,...jk", [(3, 4), (2, 4, 5)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_matches_numpy_and_finite_differences(eq, shapes):
    ts = [gc.tensor(f"t{k}", s, "float64") for k, s in enumerate(shapes)]
    vs = {f"t{k}": RNG.standard_normal(s) for k, s in enumerate(shapes)}
    y = gc.einsum(eq, *ts)
    expected = np.einsum(eq, *vs.values())
    assert y.shape == expected.shape
    np.testing.assert_allclose(gc.compile(y)(**vs), expected, rtol=1e-12, atol=1e-14)
    w = gc.constant(RNG.standard_normal(expected.shape), dtype="float64")
    errs = gc.check_grad(gc.sum(y * w), ts, vs)
    assert set(errs) == set(vs) and max(errs.values()) < 1e-8


def test_einsum_gradients_are_contractions_with_the_cotangent():
    # "bd,de->be": dA = g Bᵀ, dB = Aᵀ g
    a, b = gc.tensor("a", (3, 4), "float64"), gc.tensor("b", (4, 5), "float64")
    va, vb, vg = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5)), \
        RNG.standard_normal((3, 5))
    loss = gc.sum(gc.einsum("bd,de->be", a, b) * gc.constant(vg, dtype="float64"))
    ga, gb = gc.grad(loss, [a, b])
    assert ga.op == "einsum" and gb.op == "einsum"
    ra, rb = gc.compile([ga, gb])(a=va, b=vb)
    np.testing.assert_allclose(ra, vg @ vb.T, rtol=1e-12)
    np.testing.assert_allclose(rb, va.T @ vg, rtol=1e-12)


def test_einsum_with_symbolic_dims():
    q, k = gc.tensor("q", ("B", "T", 4)), gc.tensor("k", ("B", "T", 4))
    s = gc.einsum("btd,bsd->bts", q, k)
    assert s.shape == (dim("B"), dim("T"), dim("T"))
    vq, vk = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 4))
    np.testing.assert_allclose(gc.compile(s)(q=vq, k=vk), np.einsum("btd,bsd->bts", vq, vk),
                               rtol=1e-5)


@pytest.mark.parametrize("equation,error,match", [
    (3, TypeError, "einsum: the equation must be a string"),
    ("ij->i->j", gc.ShapeError, "einsum: equation 'ij->i->j' has more than one '->'"),
    # 'é'.isalpha() is true, but numpy's einsum crashes on it at run time
    ("\u00e9j->j", gc.ShapeError, "einsum: subscripts must be letters"),
])
def test_bad_einsum_equations_fail_while_building(equation, error, match):
    with pytest.raises(error, match=match):
        gc.einsum(equation, gc.tensor("a", (2, 3)))
