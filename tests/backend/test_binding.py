"""Checking call-time arrays and binding symbolic dims (every backend calls InputSpec.bind).
Mirrors graphc/backend/binding.py."""
import numpy as np
import pytest

import graphc as gc
from graphc.backend.binding import InputSpec
from graphc.ir.shapes import dim


@pytest.fixture(scope="module")
def spec():
    x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3, "H"))
    labels = gc.tensor("labels", ("B",), "int64")
    loss = gc.cross_entropy(x @ w, labels)
    return InputSpec([x, w, labels], [loss])


def _ok():
    return (np.zeros((4, 3), np.float32), np.zeros((3, 5), np.float32),
            np.array([0, 4, 2, 1]))


def test_bind_by_keyword_and_position(spec):
    x, w, labels = _ok()
    for args, kwargs in [((), dict(x=x, w=w, labels=labels)), ((x, w, labels), {}),
                         ((x,), dict(labels=labels, w=w))]:
        arrays, dims = spec.bind(args, kwargs)
        assert dims == {dim("B"): 4, dim("H"): 5}
        assert set(arrays) == {"x", "w", "labels"}


def test_conversions(spec):
    x, w, labels = _ok()
    arrays, _ = spec.bind((), dict(x=x.astype(np.float64), w=w.T.copy().T,
                                   labels=labels.astype(np.int32)))
    assert arrays["x"].dtype == np.float32 and arrays["labels"].dtype == np.int64
    assert arrays["w"].flags.c_contiguous
    arrays, _ = spec.bind((), dict(x=x, w=w, labels=labels))
    assert arrays["x"] is x  # already right: no copy


def test_upcast_keeps_floats_in_float64():
    x = gc.tensor("x", (2,))
    arrays, _ = InputSpec([x], [x], upcast=True).bind((), {"x": np.ones(2, np.float32)})
    assert arrays["x"].dtype == np.float64


def test_zero_dim_inputs_stay_zero_dim():
    s = gc.tensor("s", ())
    arrays, _ = InputSpec([s], [s]).bind((2.0,), {})
    assert arrays["s"].shape == () and arrays["s"].dtype == np.float32


@pytest.mark.parametrize("change,err,pattern", [
    (dict(x=np.zeros(3, np.float32)), gc.InputError, r"input 'x': expected rank 2"),
    (dict(w=np.zeros((4, 5), np.float32)), gc.InputError, r"input 'w': expected shape \(3, H\)"),
    (dict(labels=np.zeros(5, np.int64)), gc.InputError,
     r"input 'labels'.*B = 4.*|input 'labels'.*'x'"),
    (dict(x=np.zeros((4, 3), np.complex64)), TypeError, r"input 'x'.*complex64"),
    (dict(x=np.array([["a", "b", "c"]] * 4)), TypeError, r"input 'x'.*numeric"),
    (dict(labels=np.zeros(4)), TypeError, r"input 'labels': expected integers.*float64"),
    (dict(labels=np.array([0, 1, 5, 2])), gc.InputError, r"input 'labels'.*label 5.*\[0, 5\)"),
    (dict(labels=np.array([0, -1, 1, 2])), gc.InputError, r"input 'labels'.*label -1"),
    (dict(labels=np.array([0, 1, 2, 2**40])), gc.InputError, r"input 'labels'"),
    (dict(x=[[1.0, 2.0], [3.0]]), TypeError, r"input 'x': cannot be read as an array"),
], ids=["rank", "size", "dim clash", "complex", "strings", "float labels", "label high",
        "label negative", "label huge", "ragged"])
def test_bad_arrays_name_the_input(spec, change, err, pattern):
    x, w, labels = _ok()
    feeds = dict(dict(x=x, w=w, labels=labels), **change)
    with pytest.raises(err, match=pattern) as info:
        spec.bind((), feeds)
    assert isinstance(info.value, gc.InputError)


def test_call_errors(spec):
    """Each is a gc.InputError and still the TypeError it always was."""
    x, w, labels = _ok()
    for args, kwargs, pattern in [
            ((), dict(x=x, w=w), r"missing input\(s\) 'labels'"),
            ((), dict(x=x, w=w, labels=labels, y=x), r"unknown input 'y'; the inputs are: x, "
                                                     r"w, labels"),
            ((x,), dict(x=x, w=w, labels=labels), "'x' is given both positionally and by name"),
            ((x, w, labels, x), {}, "at most 3 positional")]:
        with pytest.raises(TypeError, match=pattern) as info:
            spec.bind(args, kwargs)
        assert isinstance(info.value, gc.InputError)


def test_an_input_the_outputs_do_not_read_is_unknown_and_says_how_to_pass_it():
    x = gc.tensor("x", (3,))
    f = gc.compile(gc.grad(gc.sum(x * 2.0), [x])[0])  # 2 everywhere: x's values unread
    with pytest.raises(gc.InputError, match=r"the inputs are: none\. The compiled outputs "
                                            r"read no input of that name .*inputs=\[\.\.\.\]"):
        f(x=np.ones(3, np.float32))
    g = gc.compile(gc.grad(gc.sum(x * 2.0), [x])[0], inputs=[x])
    np.testing.assert_array_equal(g(x=np.ones(3, np.float32)), [2.0, 2.0, 2.0])


def test_two_inputs_named_alike_cannot_be_compiled():
    a, b = gc.tensor("x", (2,)), gc.tensor("x", (2,))
    with pytest.raises(ValueError, match="both named 'x'"):
        gc.compile(a + b)


def test_a_dim_no_input_sets_is_a_compile_time_error():
    x = gc.tensor("x", ("B", 3))
    zeros = gc.grad(gc.sum(gc.constant(np.ones(2))), x)  # zeros of (B, 3), reads no input
    with pytest.raises(ValueError, match=r"dim B .*not the size of an axis of any input"):
        gc.compile(zeros)
    out = gc.compile(zeros, inputs=[x])(x=np.ones((2, 3)))
    np.testing.assert_array_equal(out, np.zeros((2, 3), np.float32))


def test_axes_sized_by_an_expression_are_checked():
    x = gc.tensor("x", ("B", 3))
    y = gc.tensor("y", (2 * x.shape[0],))
    f = gc.compile(gc.sum(x) + gc.sum(y))
    assert float(f(x=np.ones((2, 3)), y=np.ones(4))) == 10.0
    with pytest.raises(gc.InputError, match=r"input 'y': expected shape \(2\*B,\), got \(5,\)"):
        f(x=np.ones((2, 3)), y=np.ones(5))


def test_labels_are_range_checked_through_reshapes_and_transposes():
    x = gc.tensor("x", ("B", 3))
    y = gc.tensor("y", (1, "B"), "int64")  # labels as a row, flattened and transposed back
    f = gc.compile(gc.cross_entropy(x, gc.reshape(gc.transpose(y), (-1,))))
    assert np.isfinite(f(x=np.zeros((2, 3)), y=np.array([[0, 2]])))
    with pytest.raises(gc.InputError, match=r"input 'y': class label 3 is out of range"):
        f(x=np.zeros((2, 3)), y=np.array([[0, 3]]))


def test_a_shape_that_is_not_whole_for_the_bound_dims_names_the_op_and_input():
    # reshape(-1, 4) of (B, 6) is (3*B/2, 4): fine for even B, meaningless for odd B
    x = gc.tensor("x", ("B", 6))
    f = gc.compile(gc.reshape(x, (-1, 4)))
    assert f(x=np.ones((2, 6))).shape == (3, 4)
    with pytest.raises(gc.InputError, match=r"reshape: shape \(3\*B/2, 4\) has a size that is "
                                            r"not a whole number for B = 1 \(from input 'x'\)"):
        f(x=np.ones((1, 6)))


def test_an_input_listed_twice_is_named_as_such():
    x = gc.tensor("x", (2,))
    with pytest.raises(ValueError, match="input 'x' is listed twice"):
        gc.compile(x * 2, inputs=[x, x])
