"""gc.compile's calling convention: names and positions, tuple or single result, dtypes,
fresh results, untouched inputs, one compiled graph for every batch size."""
import numpy as np
import pytest

import graphc as gc
from graphc.compile import default_backend

RNG = np.random.default_rng(8)


@pytest.fixture(scope="module")
def classifier():
    x = gc.tensor("x", ("B", 5))
    y = gc.tensor("y", ("B",), dtype="int64")
    W, b = gc.tensor("W", (5, 3)), gc.tensor("b", (3,))
    logits = x @ W + b
    loss = gc.cross_entropy(logits, y)
    gW, gb = gc.grad(loss, [W, b])
    return dict(x=x, y=y, W=W, b=b, logits=logits, loss=loss, gW=gW, gb=gb,
                f=gc.compile([loss, gW, gb, logits], inputs=[x, y, W, b]))


def _feeds(batch, dtype=np.float32):
    return dict(x=RNG.standard_normal((batch, 5)).astype(dtype), y=RNG.integers(0, 3, batch),
                W=RNG.standard_normal((5, 3)).astype(dtype), b=RNG.standard_normal(3).astype(dtype))


def _numpy(feeds):
    z = feeds["x"].astype(np.float64) @ feeds["W"] + feeds["b"]
    z = z - z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    n = len(feeds["y"])
    loss = -np.log(p[np.arange(n), feeds["y"]]).mean()
    dz = (p - np.eye(3)[feeds["y"]]) / n
    return loss, feeds["x"].T @ dz, dz.sum(0)


def test_one_compiled_graph_serves_batch_sizes_1_7_and_64(classifier):
    f = classifier["f"]
    graph_before = f.graph
    for batch in (1, 7, 64):
        feeds = _feeds(batch)
        loss, gW, gb, logits = f(**feeds)
        assert logits.shape == (batch, 3) and gW.shape == (5, 3) and gb.shape == (3,)
        want = _numpy(feeds)
        np.testing.assert_allclose(loss, want[0], rtol=1e-5)
        np.testing.assert_allclose(gW, want[1], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(gb, want[2], rtol=1e-4, atol=1e-6)
    assert f.graph is graph_before  # nothing was rebuilt


def test_keyword_and_positional_calls_agree(classifier):
    f = classifier["f"]
    feeds = _feeds(4)
    by_name = f(**feeds)
    by_position = f(feeds["x"], feeds["y"], feeds["W"], feeds["b"])
    mixed = f(feeds["x"], feeds["y"], b=feeds["b"], W=feeds["W"])
    assert f.input_names == ["x", "y", "W", "b"]
    for r in (by_position, mixed):
        for p, q in zip(by_name, r):
            np.testing.assert_array_equal(p, q)


def test_inputs_order_is_the_positional_order():
    a, b = gc.tensor("a", (2,)), gc.tensor("b", (2,))
    f = gc.compile(a - b, inputs=[b, a])
    assert f.input_names == ["b", "a"]
    np.testing.assert_array_equal(f(np.ones(2), np.full(2, 5.0)), [4.0, 4.0])
    # by default: in order of first use
    assert gc.compile(b * a).input_names == ["b", "a"]


def test_single_tensor_gives_an_array_a_list_gives_a_tuple():
    x = gc.tensor("x", (3,))
    a = np.arange(3, dtype=np.float32)
    single = gc.compile(x * 2)(x=a)
    assert isinstance(single, np.ndarray)
    one = gc.compile([x * 2])(x=a)
    assert isinstance(one, tuple) and len(one) == 1
    two = gc.compile((x * 2, gc.sum(x)))(x=a)
    assert isinstance(two, tuple) and len(two) == 2 and two[1].shape == ()


def test_dtypes_of_results():
    x32, x64 = gc.tensor("x32", (3,), "float32"), gc.tensor("x64", (3,), "float64")
    r32, r64, rsum = gc.compile([gc.exp(x32), gc.exp(x64), gc.sum(x32)])(
        x32=np.ones(3), x64=np.ones(3, np.float32))
    assert r32.dtype == np.float32 and r64.dtype == np.float64 and rsum.dtype == np.float32


def test_results_are_never_overwritten_by_a_later_call(classifier):
    f = classifier["f"]
    first = f(**_feeds(4))
    kept = [r.copy() for r in first]
    f(**_feeds(4))
    f(**_feeds(6))
    for r, k in zip(first, kept):
        np.testing.assert_array_equal(r, k)


def test_results_do_not_alias_inputs_or_each_other():
    x = gc.tensor("x", (2, 3))
    t = x.T
    f = gc.compile([x, t, x, t * 1.0])
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    r_x, r_t, r_x2, r_t1 = f(x=a)
    assert not np.shares_memory(r_x, a) and not np.shares_memory(r_t, a)
    assert not np.shares_memory(r_x, r_x2) and not np.shares_memory(r_t, r_t1)
    r_x[0, 0] = 100.0
    r_t[0, 0] = -1.0
    assert a[0, 0] == 0.0 and r_x2[0, 0] == 0.0 and r_t1[0, 0] == 0.0
    assert all(r.flags.writeable for r in (r_x, r_t, r_x2, r_t1))
    const = gc.constant(np.ones(2))
    f_const = gc.compile(const)
    c = f_const()
    c[0] = 5.0  # a constant output is a fresh copy too: the graph's constant is untouched
    assert f_const()[0] == 1.0 and const.attrs["value"].array[0] == 1.0


def test_inputs_are_never_modified(classifier):
    f = classifier["f"]
    feeds = _feeds(5)
    copies = {k: v.copy() for k, v in feeds.items()}
    f(**feeds)
    for k in feeds:
        np.testing.assert_array_equal(feeds[k], copies[k])
        assert feeds[k].dtype == copies[k].dtype


def test_non_contiguous_and_converted_inputs(classifier):
    f = classifier["f"]
    base = _feeds(6, dtype=np.float64)
    want = f(**{k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in base.items()})
    wide = np.zeros((6, 10))
    wide[:, ::2] = base["x"]
    variants = dict(
        x=wide[:, ::2],                        # strided view
        W=np.asfortranarray(base["W"]),        # column-major
        b=base["b"],                           # float64 for a float32 input: converted
        y=base["y"].astype(np.int32),          # int32 labels for an int64 input
    )
    assert not variants["x"].flags.c_contiguous
    got = f(**variants)
    for p, q in zip(want, got):
        assert q.dtype == p.dtype
        np.testing.assert_allclose(q, p, rtol=1e-6)
    got_lists = f(x=base["x"].tolist(), y=base["y"].tolist(), W=base["W"].tolist(),
                  b=list(base["b"]))
    np.testing.assert_allclose(got_lists[0], want[0], rtol=1e-6)


def test_unaligned_and_read_only_inputs(classifier):
    # the cpu backend's fast call takes only C-ordered, aligned, writeable arrays: these take
    # the checked path, and give the same results
    f = classifier["f"]
    feeds = _feeds(6)
    want = f(**feeds)
    raw = np.zeros(feeds["x"].nbytes + 1, np.uint8)
    unaligned = np.ndarray(feeds["x"].shape, np.float32, buffer=raw, offset=1)
    unaligned[...] = feeds["x"]
    read_only = feeds["W"].copy()
    read_only.flags.writeable = False
    assert not unaligned.flags.aligned and unaligned.flags.c_contiguous
    got = f(**{**feeds, "x": unaligned, "W": read_only})
    for p, q in zip(want, got):
        np.testing.assert_array_equal(q, p)


def test_gradient_of_an_unused_input_is_zeros_of_its_shape():
    x, unused = gc.tensor("x", ("B", 3)), gc.tensor("unused", (4, "B"))
    loss = gc.sum(x * x)
    gx, gu = gc.grad(loss, [x, unused])
    f = gc.compile([loss, gx, gu], inputs=[x, unused])
    lv, rx, ru = f(x=np.ones((2, 3)), unused=np.ones((4, 2)))
    assert ru.shape == (4, 2) and ru.dtype == np.float32 and not ru.any()
    np.testing.assert_array_equal(rx, np.full((2, 3), 2.0))


def test_compiled_function_exposes_its_graphs():
    x = gc.tensor("x", ("B", 2))
    y = gc.sum(gc.tanh(x))
    f = gc.compile(y, opt_level=0)
    assert f.raw_graph.outputs == (y,) and f.graph is f.raw_graph and f.report == []
    assert f.backend == default_backend() and f.input_names == ["x"]
    assert f"backend={default_backend()}" in repr(f) and "inputs=['x']" in repr(f)
    assert len(f.graph) == 3


def test_compile_argument_errors():
    x, w = gc.tensor("x", (2,)), gc.tensor("w", (2,))
    with pytest.raises(ValueError, match=r"unknown backend 'cuda9'.*available.*reference"):
        gc.compile(x * 2, backend="cuda9")
    with pytest.raises(ValueError, match=r"need input\(s\) \['w'\]"):
        gc.compile(x * w, inputs=[x])
    with pytest.raises(TypeError, match="outputs must be graphc tensors"):
        gc.compile([x * 2, np.ones(2)])
    with pytest.raises(TypeError, match="inputs must be tensors made by gc.tensor"):
        gc.compile(x * 2, inputs=[x * 2])


def test_inputs_may_be_one_tensor_and_unknown_options_are_named():
    x = gc.tensor("x", (2,))
    f = gc.compile(x * 2, inputs=x)  # as `outputs` may be one tensor
    assert f.input_names == ["x"]
    with pytest.raises(TypeError, match=r"compile: unknown option\(s\) 'fast' for backend "
                                        f"'{default_backend()}'"):
        gc.compile(x * 2, fast=True)
