"""The cpu backend equals the reference on every op and every model of the suite, optimized
and not, at more than one batch size; its programs are readable and inspectable.
Mirrors graphc/backend/numba/ (compile times: the kernels are shared through the cache)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from cpu_cases import CASES, NEW_OPS
from special_graphs import assert_backend_equals_reference, special_graph

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG_NEW = np.random.default_rng(9)


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def assert_agree(outputs, feeds, opt_level=None):
    ref = gc.compile(outputs, backend="reference", opt_level=opt_level)
    cpu = gc.compile(outputs, backend="cpu", opt_level=opt_level)
    with np.errstate(all="ignore"):
        want, got = ref(**feeds), cpu(**feeds)
    for k, (w, g) in enumerate(zip(want, got)):
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"output {k}")
            np.testing.assert_allclose(g, w, err_msg=f"output {k}", **tolerance(w.dtype))
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {k}")
    return cpu


@pytest.mark.parametrize("opt_level", [0, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_cpu_equals_reference(case, opt_level):
    outputs, feeds = case()
    assert_agree(outputs, feeds, opt_level)


def test_one_compiled_function_serves_every_batch_size():
    outputs, feeds = CASES[6]()  # the MLP's training graph
    cpu = gc.compile(outputs, backend="cpu")
    ref = gc.compile(outputs, backend="reference")
    rng = np.random.default_rng(1)
    for batch in (1, 7, 64, 0):
        f = dict(feeds, x=rng.standard_normal((batch, 6)).astype(np.float32),
                 y=rng.integers(0, 3, batch))
        with np.errstate(all="ignore"):
            for w, g in zip(ref(**f), cpu(**f)):
                np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_an_input_sized_by_a_dim_that_a_later_input_binds():
    # the fast call read B off y only after comparing x's size with 2*B: UnboundLocalError
    import sympy
    B = sympy.Symbol("B")
    x, y = gc.tensor("x", (2 * B,)), gc.tensor("y", ("B",))
    f = gc.compile(x.sum() + y.sum(), backend="cpu")
    assert float(f(x=np.ones(4, np.float32), y=np.ones(2, np.float32))) == 6.0
    with pytest.raises(gc.InputError, match="axis 0 should be 2\\*B = 6"):
        f(x=np.ones(4, np.float32), y=np.ones(3, np.float32))


def test_outputs_are_fresh_arrays_that_a_later_call_does_not_touch():
    x = gc.tensor("x", ("B", 3))
    f = gc.compile([gc.exp(x), x, gc.sum(x)], backend="cpu")
    a = np.ones((2, 3), np.float32)
    first = f(x=a)
    kept = [o.copy() for o in first]
    f(x=a * 5)
    for o, k in zip(first, kept):
        np.testing.assert_array_equal(o, k)
    assert first[1] is not a and not np.shares_memory(first[1], a)


def test_the_source_and_the_kernels_can_be_read():
    outputs, feeds = CASES[6]()
    f = gc.compile(outputs, backend="cpu")
    src = f.impl.source
    assert "def run0(" in src and "@njit(cache=True" in src
    kernels = f.impl.kernels
    assert kernels and all(k.runs in ("generated", "BLAS or generated") for k in kernels)
    assert any("matmul" in k.provenance for k in kernels)


@settings(max_examples=40)
@given(built=special_graph(), opt_level=st.sampled_from([0, 2]))
def test_cpu_equals_reference_on_random_graphs_with_special_values(built, opt_level):
    assert_backend_equals_reference(built, opt_level, "cpu")


def test_logsumexp_of_infinities_and_nan_is_numpys():
    # rows: +inf twice (inf - inf must not make a NaN), -inf only, a NaN, +inf with finite
    x = gc.tensor("x", (5, 3), "float64")
    rows = np.array([[np.inf, np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [np.nan, 0.0, 1.0],
                     [np.inf, -2.0, 3.0], [1e308, 1e308, -np.inf]])
    for axis in (1, 0):
        f = assert_agree([gc.logsumexp(x, axis=axis)], {"x": rows})
    column_major = np.asfortranarray(rows)  # the same values through another layout
    np.testing.assert_array_equal(f(x=column_major)[0], gc.compile(
        gc.logsumexp(x, axis=0), backend="reference")(x=rows))


# ---- the ops users expect (issue 9) ---------------------------------------------------------
# Every op runs natively: argmax, dropout's random_uniform and gathers whose indices the
# graph computes included (tests/backend/test_cpu_index_kernels.py has their special cases).
@pytest.mark.parametrize("case", NEW_OPS, ids=lambda c: c.__name__)
def test_new_ops_are_native(case):
    outputs, _ = case()
    f = gc.compile(outputs, backend="cpu")
    assert [k.name for k in f.impl.kernels if k.runs == "NumPy reference"] == []
    assert "def run1(" not in f.impl.source  # one native segment: one native call


def test_comparisons_and_selection_fuse_into_one_generated_kernel():
    x, y = gc.tensor("x", ("B", 5)), gc.tensor("y", (5,))
    outs = [gc.relu(gc.where(x > 0, x, -x) * 2),
            gc.clip(gc.abs(gc.maximum(x, y)) - gc.minimum(x, 0.5), -1.0, 1.0) * (x != y)]
    feeds = {"x": RNG_NEW.standard_normal((4, 5)).astype(np.float32),
             "y": RNG_NEW.standard_normal(5).astype(np.float32)}
    for out in outs:
        f = assert_agree([out], {k: v for k, v in feeds.items()
                                 if k in {i.name for i in gc.Graph.of([out]).inputs}})
        (k,) = f.impl.kernels
        assert k.runs == "generated", k


def test_a_convolutions_bias_and_relu_fuse_into_its_contraction():
    x, w, b = gc.tensor("x", ("N", 2, 6, 6)), gc.tensor("w", (3, 2, 3, 3)), gc.tensor("b", (3,))
    f = assert_agree([gc.relu(gc.conv2d(x, w, b, padding=1))],
                     {"x": RNG_NEW.standard_normal((2, 2, 6, 6)).astype(np.float32),
                      "w": RNG_NEW.standard_normal((3, 2, 3, 3)).astype(np.float32),
                      "b": RNG_NEW.standard_normal(3).astype(np.float32)})
    # one fused node; the lowering contracts into (n, h, w, o) order, then its epilogue writes
    # NCHW with the bias and relu applied (graphc/lower/contraction.py)
    (node,) = [n for n in f.graph.nodes() if n.op == "fused_contraction"]
    assert {"einsum", "add", "relu"} <= set(node.attrs["fused"])
    kernels = [k for k in f.impl.kernels if k.name.split("_", 1)[1].startswith("einsum")]
    assert [k.provenance for k in kernels] == [("einsum",), ("add", "relu")]
    assert all(k.runs != "NumPy reference" for k in f.impl.kernels)


def test_out_of_range_gather_indices_are_an_input_error_naming_the_input():
    table, ids = gc.tensor("table", (5, 3)), gc.tensor("ids", ("B",), "int64")
    x, j = gc.tensor("x", ("B", 4)), gc.tensor("j", ("B", 1), "int64")
    f = gc.compile([gc.take(table, ids), gc.take_along_axis(x, j, axis=1)], backend="cpu")
    good = {"table": np.ones((5, 3), np.float32), "x": np.ones((2, 4), np.float32)}
    f(**good, ids=np.array([4, -5]), j=np.array([[3], [-4]]))
    with pytest.raises(gc.InputError, match="'ids'"):
        f(**good, ids=np.array([0, 5]), j=np.array([[0], [0]]))
    with pytest.raises(gc.InputError, match="'j'"):
        f(**good, ids=np.array([0, 0]), j=np.array([[0], [-5]]))


def test_a_sum_of_negative_zeros_is_numpys_zero():
    # NumPy (and torch) sum from 0.0: rows, columns (a row of accumulators) and a mean
    x = gc.tensor("x", ("B", 3))
    outs = [gc.sum(x, axis=1), gc.sum(x, axis=0), gc.mean(x), gc.sum(x * 2.0, axis=1)]
    a = np.full((2, 3), -0.0, np.float32)
    got, want = gc.compile(outs, backend="cpu")(x=a), gc.compile(outs, backend="reference")(x=a)
    for g, w in zip(got, want):
        assert not np.signbit(g).any() and not np.signbit(w).any()


def test_a_label_is_checked_even_where_there_are_no_classes():
    # the check sat inside the loop over classes: with none, a label of 0 went through
    x, y = gc.tensor("x", ("B", "N")), gc.tensor("y", ("B",), "int64")
    f = gc.compile(gc.cross_entropy(x, y), backend="cpu")
    with pytest.raises(gc.InputError, match=r"'y'.*out of range \[0, 0\)"):
        f(x=np.zeros((2, 0), np.float32), y=np.zeros(2, np.int64))
    assert np.isclose(f(x=np.zeros((2, 3), np.float32), y=np.array([1, 2])), np.log(3))


def test_a_literal_in_the_dims_divides_as_a_float():
    # a mean's 1/B: in a float body it is a true division of sizes, not 1 // B
    b = gc.tensor("b", ("B",))
    assert_agree([b * (1 / b.shape[0]) + b.shape[0] / 3], {"b": np.ones(4, np.float32)})


@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32")])
def test_contractions_of_mixed_float_dtypes(dtypes):
    da, db = dtypes
    x, w = gc.tensor("x", ("B", 4), da), gc.tensor("w", (4, 3), db)
    a, c = gc.tensor("a", (2, 3, 4), da), gc.tensor("c", (2, 5, 4), db)
    rng = np.random.default_rng(3)
    feeds = {n: rng.standard_normal(shape).astype(d) for n, shape, d in
             (("x", (5, 4), da), ("w", (4, 3), db), ("a", (2, 3, 4), da), ("c", (2, 5, 4), db))}
    feeds["w"][0, 1] = np.nan  # 0 * NaN and NaN rows stay NaN
    feeds["x"][1] = 0.0
    assert_agree([x @ w, gc.relu(x @ w + 1.0), gc.einsum("bik,bjk->bij", a, c)], feeds)


@pytest.mark.parametrize("batch", [0, 5])
def test_a_bias_or_an_update_returned_fresh_goes_into_the_blas_call(batch):
    # x @ w + b and W - lr * x.T @ g: C starts as b (broadcast) or W, and one gemm adds
    # alpha * A @ B (beta 1); at batch 0 the update's sum is empty and the result is W itself
    x, w, b = gc.tensor("x", ("B", 6)), gc.tensor("w", (6, 4)), gc.tensor("b", (4,))
    g, lr = gc.tensor("g", ("B", 4)), gc.tensor("lr", ())
    outputs = [x @ w + b, w - lr * (x.T @ g)]
    f = gc.compile(outputs, backend="cpu", matmul="blas")
    assert "= e0[" in f.impl.source and "on_stack(np.float32(1))" in f.impl.source
    rng = np.random.default_rng(4)
    feeds = {"x": rng.standard_normal((batch, 6)).astype(np.float32),
             "w": rng.standard_normal((6, 4)).astype(np.float32),
             "b": rng.standard_normal(4).astype(np.float32),
             "g": rng.standard_normal((batch, 4)).astype(np.float32),
             "lr": np.float32(0.1)}
    want = gc.compile(outputs, backend="reference")(**feeds)
    for got, ref in zip(f(**feeds), want):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("matmul", ["blas", "blocks"])
def test_an_empty_sum_gives_beta_times_c_without_calling_blas(matmul, capfd):
    # x @ w - e and 2 e + x @ w fold e into the gemm with beta -1 and 2: over K = 0 the
    # result is beta * e. MKL refused the call (a leading dimension of 0), printed an error
    # and left C as e: +e and e where -e and 2e were right
    x, w, e = gc.tensor("x", ("B", "K")), gc.tensor("w", ("K", 4)), gc.tensor("e", ("B", 4))
    outputs = [x @ w - e, 2 * e + x @ w, gc.relu(x @ w + e)]
    f = gc.compile(outputs, backend="cpu", matmul=matmul)
    ref = gc.compile(outputs, backend="reference")
    rng = np.random.default_rng(6)
    for k in (0, 3):
        feeds = {"x": rng.standard_normal((5, k)).astype(np.float32),
                 "w": rng.standard_normal((k, 4)).astype(np.float32),
                 "e": rng.standard_normal((5, 4)).astype(np.float32)}
        for got, want in zip(f(**feeds), ref(**feeds)):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    out, err = capfd.readouterr()
    assert "ERROR" not in out + err


def test_float16_is_refused_with_a_clear_error_not_a_numba_traceback():
    x = gc.tensor("x", (5, 7), "float16")
    with pytest.raises(TypeError, match=r"cannot compute float16 \(input 'x'.*astype"):
        gc.compile(gc.exp(x) * 2.0, backend="cpu")
    y = gc.tensor("y", (5, 7))
    with pytest.raises(TypeError, match="cannot compute float16.*compute in float32"):
        gc.compile(gc.astype(y, "float16") * 2.0, backend="cpu")
    # the message's other way: the reference backend computes it as NumPy does
    got = gc.compile(gc.exp(x) * 2.0, backend="reference")(x=np.ones((5, 7), np.float16))
    assert got.dtype == np.float16


def test_many_inputs_of_mixed_kinds_reach_the_driver_as_one_table_of_ids():
    """The driver takes one array of the arrays' ids, however many there are (driver.py: each
    array argument cost Numba's compile 12-20 ms, faster than linearly in their number), and
    reads each array's data through it: inputs of every dtype and rank, with constants and
    several fresh outputs among them, at two batch sizes and through the checked path."""
    rng = np.random.default_rng(3)
    xs = [gc.tensor(f"x{i}", ("B", 3)) for i in range(30)]
    ws = [gc.tensor(f"w{i}", (3,), dtype="float64") for i in range(5)]
    n = gc.tensor("n", ("B",), dtype="int32")
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    scaled = [gc.astype(total, "float64") * w for w in ws]
    table = gc.constant(np.arange(12, dtype=np.float32).reshape(4, 3) % 5)  # a constant
    outputs = [total * gc.sum(table, axis=0), *scaled,
               gc.astype(n, "float32") * 2.5 + gc.sum(total)]
    f = assert_agree(outputs, {**{f"x{i}": rng.standard_normal((4, 3)).astype(np.float32)
                                  for i in range(30)},
                               **{f"w{i}": rng.standard_normal(3) for i in range(5)},
                               "n": rng.integers(-5, 5, 4).astype(np.int32)})
    assert "def run0(arrays, ws, modes, d_B):" in f.impl.source and f.impl.program.consts
    feeds = {**{f"x{i}": rng.standard_normal((9, 3)).astype(np.float32) for i in range(30)},
             **{f"w{i}": rng.standard_normal(3) for i in range(5)},
             "n": rng.integers(-5, 5, 9).astype(np.int32)}
    want = gc.compile(outputs, backend="reference")(**feeds)
    for fed in (feeds, {**feeds, "x7": feeds["x7"].astype(np.float64)[:, ::1].T.copy().T}):
        for w, g in zip(want, f(**fed)):  # the second: an input converted on the checked path
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_a_kernel_computing_a_transcendental_per_element_is_split_at_symbolic_sizes():
    """Over (B, T, 256) a kernel with an exp, erf or log per element carries a loop split across
    threads (B and T count 32 each: kernels.SYMBOLIC_SIZE); one of a few cheap instructions per
    element, or with its exp once per output (the reduction's epilogue), does not."""
    z = gc.tensor("z", ("B", "T", 256))

    def split(expr):
        (k,) = gc.compile(expr, backend="cpu").kernels
        return any(note.startswith("split across threads") for note in k.notes)
    assert split(gc.gelu(z)) and split(gc.log(z * z + 1)) and split(gc.logsumexp(z, axis=2))
    assert not split(gc.relu(z) * 2) and not split(gc.sum(z * z, axis=2))
    assert not split(gc.exp(gc.max(z, axis=2)))
