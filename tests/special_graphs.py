"""Random graphs fed the values floats get wrong: NaN, +-Inf, +-0, huge and subnormal
numbers, empty batches, and bool, int8, int32, int64 inputs. `special_graph()` draws a
`Built` (tests/strategies.py) whose `dims` bind the batch B (0 included) and whose feeds
mix those values in. The sound-optimizer property tests run the default pipeline against
opt_level=0 on them."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import graphc as gc
from graphc.errors import ShapeError
from graphc.ir.shapes import dim
from strategies import Built

INPUTS = {"a": (("B", 4), "float32"), "b": ((4,), "float64"), "c": (("B", 4), "int8"),
          "d": (("B", 1), "int32"), "m": (("B", 4), "bool"), "e": ((), "int64"),
          "f": ((4,), "float32"), "w": ((4, 4), "float32"), "v": ((4, 4), "float64")}
FLOAT_SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 3e38, -3e38, 1e-40, -1e-40, 1.0, -2.5,
                  0.5, 7.0]

UNARY = [("exp", gc.exp), ("log", gc.log), ("sqrt", gc.sqrt), ("tanh", gc.tanh),
         ("relu", gc.relu), ("neg", gc.neg), ("sigmoid", gc.sigmoid), ("gelu", gc.gelu),
         ("square", lambda t: t * t), ("recip", lambda t: 1.0 / t), ("pow2", lambda t: t ** 2),
         ("to_f64", lambda t: gc.astype(t, "float64")),
         ("to_f32", lambda t: gc.astype(t, "float32")), ("to_i32", lambda t: gc.astype(t, "int32")),
         ("stop", gc.stop_gradient),
         # the ops of issue 9: comparisons (NaN compares false, but != true), the min/max
         # family, slices (a symbolic bound on the batch axis meets batch 0), gathers, windows
         ("abs", gc.abs), ("clip", lambda t: gc.clip(t, -1.0, 2.0)),
         ("clip_lo_above_hi", lambda t: gc.clip(t, 1.0, -1.0)), ("gt0", lambda t: t > 0),
         ("is_nan", lambda t: t != t), ("eq0", lambda t: t == 0.0),
         ("max_0", lambda t: gc.maximum(t, 0.0)), ("min_neg0", lambda t: gc.minimum(-0.0, t)),
         ("tail", lambda t: t[..., 1:]), ("rev2", lambda t: t[..., ::-2]),
         ("first", lambda t: t[..., 0]), ("batch_tail", lambda t: t[1:]),
         ("slice_slice", lambda t: t[..., 1:][..., ::2]),
         ("take", lambda t: gc.take(t, [3, 0, -1, 3], axis=-1)),
         ("take_along", lambda t: gc.take_along_axis(
             t, gc.constant(np.zeros((1,) * (t.ndim - 1) + (2,), np.int64)), axis=-1)),
         ("tril", gc.tril),
         ("win_max", lambda t: gc.max(gc.functional.windows(t, (2,), (2,)), axis=-1)),
         ("win_sum", lambda t: gc.sum(gc.functional.windows(t, (3,), (1,)), axis=-1))]
# algebra true of real numbers and false of floats somewhere, and the exact identities beside
# them: drawn often, so a rewrite that breaks one is found
TRAPS = [("self_sub", lambda t: t - t), ("self_div", lambda t: t / t),
         ("times_zero", lambda t: t * 0.0), ("plus_zero", lambda t: t + 0.0),
         ("zero_plus", lambda t: 0.0 + t), ("minus_neg_zero", lambda t: t - (-0.0)),
         ("times_one", lambda t: t * 1.0), ("minus_zero", lambda t: t - 0.0),
         ("plus_neg_zero", lambda t: t + (-0.0)), ("div_one", lambda t: t / 1.0),
         ("exp_log", lambda t: gc.exp(gc.log(t))), ("log_exp", lambda t: gc.log(gc.exp(t))),
         ("neg_neg", lambda t: gc.neg(gc.neg(t))), ("twice_half", lambda t: (t * 2.0) * 0.5),
         ("plus_minus", lambda t: (t + 1.0) - 1.0), ("sqrt_square", lambda t: gc.sqrt(t * t))]
BINARY = [("add", gc.add), ("sub", gc.sub), ("mul", gc.mul), ("div", gc.div),
          ("two_sum_err", lambda p, q: q - ((p + q) - p)), ("cancel", lambda p, q: (p * q) / q),
          ("where", "where"), ("maximum", gc.maximum), ("minimum", gc.minimum),
          ("less", gc.less), ("greater_equal", gc.greater_equal), ("not_equal", gc.not_equal),
          ("clip_by", lambda p, q: gc.clip(p, q, 1.0)),
          ("concat", lambda p, q: gc.concat([p, q], axis=-1)),
          ("stack", lambda p, q: gc.stack([p, q], axis=0)), ("dropout", "dropout")]
REDUCE = ["sum", "mean", "max", "min", "argmax", "logsumexp", "softmax", "log_softmax"]


@st.composite
def special_graph(draw, max_steps: int = 7):
    inputs = {k: gc.tensor(k, s, dtype=d) for k, (s, d) in INPUTS.items()}
    pool, steps = list(inputs.values()), []
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["trap", "trap", "unary", "binary", "binary", "reduce",
                                     "matmul", "layout"]))
        floats = [n for n in pool if n.dtype.startswith("float")]
        src = draw(st.sampled_from(floats if kind == "trap" else pool))
        try:
            if kind in ("unary", "trap"):
                name, f = draw(st.sampled_from(UNARY if kind == "unary" else TRAPS))
                node = f(src)
            elif kind == "binary":
                name, f = draw(st.sampled_from(BINARY))
                other = draw(st.sampled_from(pool))
                if f == "where":
                    node = gc.where(inputs["m"], src, other)
                elif f == "dropout":  # a counter-based mask from the int64 seed input e
                    node = gc.dropout(src, 0.5, inputs["e"])
                else:
                    node = f(src, other)
            elif kind == "reduce" and src.ndim:
                name = draw(st.sampled_from(REDUCE))
                # a maximum over an empty batch is an error; over the 4 features it is not
                axis = -1 if name in ("max", "min", "argmax", "softmax", "log_softmax") else \
                    draw(st.integers(-src.ndim, src.ndim - 1))
                if name in ("softmax", "log_softmax", "argmax"):
                    node = getattr(gc, name)(src, axis=axis)
                else:
                    keep = draw(st.booleans())
                    node = getattr(gc, name)(src, axis=axis, keepdims=keep)
                    name += f"(keepdims={keep})"
                name += f"(axis={axis})"
            elif kind == "matmul" and src.ndim == 2 and src.shape[-1] == 4 and \
                    src.dtype.startswith("float"):
                # float32 @ float64 multiplies in float64 (a kernel that read both operands
                # in one dtype once returned garbage for it)
                name, node = "matmul", src @ inputs[draw(st.sampled_from("wv"))]
            elif kind == "layout" and src.ndim == 2:
                name, node = "transpose", src.T
            elif kind == "layout":
                name, node = "reshape", src.reshape(-1)
            else:
                continue
        except (ShapeError, TypeError, ValueError):
            continue  # not a graph a user could build (shapes or dtypes do not fit)
        pool.append(node)
        steps.append(f"{name}[{node.dtype}]")
    made = pool[len(inputs):] or pool
    # the last node made is always an output (so the last rewrite candidate is observed)
    picked = [made[-1]] + [n for n in draw(st.lists(st.sampled_from(made), max_size=2,
                                                    unique_by=id)) if n is not made[-1]]
    batch = draw(st.sampled_from([0, 1, 3, 3]))
    seed = draw(st.integers(0, 2**31 - 1))
    used = gc.Graph.of(picked).inputs
    built = Built(list(used), picked, _feeds(used, batch, np.random.default_rng(seed)), steps)
    built.dims = {dim("B"): batch}
    return built


def _feeds(inputs, batch, rng):
    feeds = {}
    for i in inputs:
        shape = tuple(batch if d == dim("B") else int(d) for d in i.shape)
        if i.dtype == "bool":
            feeds[i.name] = rng.integers(0, 2, shape).astype(bool)
        elif i.dtype.startswith("int"):
            info = np.iinfo(i.dtype)
            choices = np.array([info.min, info.max, 0, 1, -1, 3], dtype=i.dtype)
            feeds[i.name] = rng.choice(choices, size=shape)
        else:
            feeds[i.name] = rng.choice(np.array(FLOAT_SPECIALS), size=shape).astype(i.dtype)
    return feeds


def assert_backend_equals_reference(built, opt_level: int, backend: str) -> None:
    """`backend` computes what the reference does on a special_graph: the same dtypes, shapes,
    NaN and Inf positions, and finite values within a few ulps. Not huge values: NumPy sums
    long float arrays pairwise (and BLAS in its own order), the kernels in theirs, and where a
    sum's order decides whether it overflows the two may differ
    (tests/passes/test_sound_optimizer.py runs huge values through one backend, optimized or
    not, where the order is the same)."""
    feeds = {k: np.where(np.abs(v) > 1e30, np.sign(v) * 7, v).astype(v.dtype)
             if v.dtype.kind == "f" else v for k, v in built.feeds.items()}
    ref = gc.compile(built.outputs, inputs=built.inputs, backend="reference", opt_level=opt_level)
    other = gc.compile(built.outputs, inputs=built.inputs, backend=backend, opt_level=opt_level)
    with np.errstate(all="ignore"):
        try:
            want = ref(**feeds)
        except ValueError:  # a maximum over no elements: the backend says so too
            with pytest.raises(ValueError):
                other(**feeds)
            return
        got = other(**feeds)
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=str(built))
        inf = np.isinf(w)
        np.testing.assert_array_equal(g[inf], w[inf], err_msg=str(built))
        finite = np.isfinite(w) & np.isfinite(g)
        scale = np.maximum(np.abs(w[finite]), 1e-30)
        # transcendental functions may differ by ulps between NumPy and LLVM: relative
        # error within a few float32 ulps, with subnormal results an absolute matter
        tiny = np.finfo(w.dtype).tiny
        err = np.abs(g[finite] - w[finite])
        # a log near 0 (a logsumexp of values near 0, log(1 + small)) is only accurate to a few
        # ulps of 1: NumPy's float32 reference rounds its sum there, the kernels sum in float64
        ulps_of_one = 4 * np.finfo(w.dtype).eps
        assert np.all((err <= 1e-5 * scale) | (err <= 8 * tiny) | (err <= ulps_of_one)), \
            str(built)


def repeating_formula(levels: int):
    """A user op whose formula's tree holds 3^levels copies of x (each level reads the last
    one three times), built from shared Python values as users write them: printed as its
    tree it grows exponentially (graphc/ir/scalar.py, shared_terms)."""
    import sympy

    def nest(x):
        v = x
        for c in range(levels):
            v = sympy.Piecewise((v, x > c / 4), (v * sympy.tanh(v), True))
        return v
    return nest


# the values the formula's tests feed it: special, below and above its thresholds
REPEATING_FEED = np.array([np.nan, -0.0, 0.3, 1.1, -0.3, 2.5, np.inf], np.float32)
