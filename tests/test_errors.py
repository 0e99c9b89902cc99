"""Every bad input of the issue gets a clear error of the right type that names the culprit:
the op and both shapes while building, the input's name at call time."""
import contextlib
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.errors import InputTypeError


# ---- while building: gc.ShapeError (a ValueError) naming the op and the shapes -------------
def test_shape_error_is_a_value_error():
    assert issubclass(gc.ShapeError, ValueError) and issubclass(gc.InputError, ValueError)
    # the call-time problems Python calls TypeErrors stay TypeErrors, and are InputErrors too
    assert issubclass(InputTypeError, gc.InputError) and issubclass(InputTypeError, TypeError)


def test_matmul_mismatch():
    with pytest.raises(gc.ShapeError, match=r"matmul: shapes \(3, 4\) and \(5, 6\)"):
        gc.tensor("a", (3, 4)) @ gc.tensor("b", (5, 6))
    with pytest.raises(gc.ShapeError, match=r"matmul: shapes \(B, 4\) and \(3,\)"):
        gc.matmul(gc.tensor("a", ("B", 4)), gc.tensor("v", (3,)))
    with pytest.raises(gc.ShapeError, match=r"matmul: shapes \(2, 3, 4\) and \(5, 4, 2\)"):
        gc.tensor("a", (2, 3, 4)) @ gc.tensor("b", (5, 4, 2))  # batch dims 2 vs 5
    with pytest.raises(gc.ShapeError, match=r"matmul: .*\(\) and \(3,\)"):
        gc.matmul(gc.tensor("s", ()), gc.tensor("v", (3,)))


def test_elementwise_broadcast_mismatch():
    with pytest.raises(gc.ShapeError, match=r"add: shapes \(3,\) and \(4,\) do not broadcast"):
        gc.tensor("a", (3,)) + gc.tensor("b", (4,))
    with pytest.raises(gc.ShapeError, match=r"mul: shapes \(B, 3\) and \(T, 3\)"):
        gc.tensor("a", ("B", 3)) * gc.tensor("b", ("T", 3))


@pytest.mark.parametrize("eq,shapes,pattern", [
    ("ij,jk->ik", [(3, 4), (5, 6)], r"einsum 'ij,jk->ik'.*'j'.*\(3, 4\) and \(5, 6\)"),
    ("ijk,jk->ik", [(3, 4), (4, 6)], r"einsum 'ijk,jk->ik'.*'ijk'.*\(3, 4\) and \(4, 6\)"),
    ("ij->ik", [(3, 4)], r"einsum 'ij->ik'.*'ik'.*\(3, 4\)"),
    ("ij,jk->ik", [(3, 4)], r"einsum.*'ij,jk->ik'.*2 operand.*\(3, 4\)"),
    ("i1,1k->ik", [(3, 4), (4, 5)], r"einsum.*letters.*\(3, 4\) and \(4, 5\)"),
    ("ii->i", [(3, 3)], r"einsum 'ii->i'.*repeated.*\(3, 3\)"),
])
def test_einsum_subscripts_that_do_not_fit(eq, shapes, pattern):
    ts = [gc.tensor(f"t{k}", s) for k, s in enumerate(shapes)]
    with pytest.raises(gc.ShapeError, match=pattern):
        gc.einsum(eq, *ts)


def test_other_build_time_mismatches():
    x = gc.tensor("x", (3, 4))
    with pytest.raises(gc.ShapeError, match=r"reshape: cannot reshape \(3, 4\)"):
        x.reshape(5, 2)
    with pytest.raises(gc.ShapeError, match=r"reshape: cannot reshape \(3, 4\)"):
        x.reshape(5, -1)
    with pytest.raises(gc.ShapeError, match=r"reshape: only one -1"):
        x.reshape(-1, -1)
    with pytest.raises(gc.ShapeError, match=r"transpose: axes \(0, 0\).*\(3, 4\)"):
        gc.transpose(x, (0, 0))
    with pytest.raises(gc.ShapeError, match=r"broadcast_to: .*\(3, 4\) and \(4, 4\)"):
        gc.broadcast_to(x, (4, 4))
    with pytest.raises(gc.ShapeError, match=r"sum: axis 2 is out of range.*rank 2"):
        x.sum(axis=2)
    with pytest.raises(gc.ShapeError, match=r"mse_loss: pred \(3,\) and target \(3, 1\)"):
        gc.mse_loss(gc.tensor("p", (3,)), gc.tensor("t", (3, 1)))
    with pytest.raises(gc.ShapeError, match=r"cross_entropy: logits \(3, 4\) and labels \(4,\)"):
        gc.cross_entropy(x, gc.tensor("labels", (4,), "int64"))
    with pytest.raises(gc.ShapeError, match=r"cross_entropy: labels must be integer.*float32"):
        gc.cross_entropy(x, gc.tensor("labels", (3,)))
    with pytest.raises(TypeError, match=r"add: expected a graphc tensor.*str"):
        x + "1"


def test_grad_of_a_non_scalar():
    x = gc.tensor("x", ("B", 3))
    with pytest.raises(gc.ShapeError, match=r"grad: y must be a scalar.*\(B, 3\)"):
        gc.grad(x * 2, [x])


def test_bad_tensor_declarations():
    with pytest.raises(ValueError, match="tensor: the name must be a Python identifier"):
        gc.tensor("my input", (3,))
    with pytest.raises(TypeError, match="tensor: dtype must be a float or integer.*complex64"):
        gc.tensor("x", (3,), "complex64")
    with pytest.raises(TypeError, match="tensor: unknown dtype 'floaty'"):
        gc.tensor("x", (3,), "floaty")
    with pytest.raises(gc.ShapeError, match="shape entry.*-2"):
        gc.tensor("x", (-2,))


# ---- at call time: the input's name ---------------------------------------------------------
@pytest.fixture(scope="module")
def f():
    x = gc.tensor("x", ("B", 4))
    labels = gc.tensor("labels", ("B",), "int64")
    w = gc.tensor("w", (4, 3))
    return gc.compile(gc.cross_entropy(x @ w, labels))


def _good():
    return dict(x=np.zeros((5, 4), np.float32), labels=np.array([0, 1, 2, 1, 0]),
                w=np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("change,err,pattern", [
    (dict(labels=None), TypeError, r"missing input\(s\) 'labels'"),
    (dict(extra=np.zeros(3)), TypeError, r"unknown input 'extra'; the inputs are: x, w, labels"),
    (dict(x=np.zeros((5, 4, 1), np.float32)), gc.InputError,
     r"input 'x': expected rank 2 with shape \(B, 4\), got rank 3"),
    (dict(w=np.zeros((4, 2), np.float32)), gc.InputError,
     r"input 'w': expected shape \(4, 3\), got \(4, 2\)"),
    (dict(x=np.zeros((5, 3), np.float32)), gc.InputError, r"input 'x'.*\(5, 3\)"),
    (dict(labels=np.zeros(6, np.int64)), gc.InputError, r"input 'labels'.*input 'x'.*B = 5"),
    (dict(x=np.array([["a"] * 4] * 5)), TypeError, r"input 'x': expected a numeric array"),
    (dict(x=np.array([[object()] * 4] * 5)), TypeError, r"input 'x':.*object"),
    (dict(x=np.zeros((5, 4), np.complex128)), TypeError, r"input 'x':.*complex128"),
    (dict(labels=np.zeros(5, np.float32)), TypeError,
     r"input 'labels': expected integers \(int64\), got floats"),
    (dict(labels=np.array([0, 1, 3, 1, 0])), gc.InputError,
     r"input 'labels': class label 3 is out of range \[0, 3\)"),
    (dict(labels=np.array([0, 1, -2, 1, 0])), gc.InputError,
     r"input 'labels': class label -2 is out of range"),
], ids=["missing", "unknown name", "wrong rank", "wrong size", "wrong size of a dim-bound axis",
        "dim clash", "strings", "objects", "complex", "float labels", "label too big",
        "label negative"])
def test_call_time_errors_name_the_input(f, change, err, pattern):
    feeds = _good()
    feeds.update(change)
    feeds = {k: v for k, v in feeds.items() if v is not None}
    with pytest.raises(err, match=pattern) as info:
        f(**feeds)
    assert isinstance(info.value, gc.InputError)  # one except clause catches every one


def test_positional_call_errors_are_input_errors(f):
    good = _good()
    with pytest.raises(gc.InputError, match="at most 3 positional") as info:
        f(good["x"], good["w"], good["labels"], good["x"])
    assert isinstance(info.value, TypeError)
    with pytest.raises(gc.InputError, match="both positionally and by name"):
        f(good["x"], x=good["x"], w=good["w"], labels=good["labels"])


def test_train_step_and_nn_function_call_errors_are_input_errors():
    gc.nn.manual_seed(0)
    model = gc.nn.Linear(4, 2)
    x, y = gc.tensor("x", ("B", 4)), gc.tensor("y", ("B", 2))
    step = gc.train_step(gc.mse_loss(model(x), y), gc.optim.SGD(model.parameters(), lr=0.1))
    predict = gc.nn.function(model(x))
    batch = np.zeros((3, 4), np.float32)
    for call, pattern in [(lambda: step(x=batch), r"missing batch input\(s\) \['y'\]"),
                          (lambda: step(batch), "pass the batch by name"),
                          (lambda: step(x=batch, y=batch[:, :2], z=batch), "'z' is not an input"),
                          (lambda: predict(x=batch, weight=batch), "is a parameter"),
                          (lambda: predict(batch, batch), "at most 1 positional"),
                          (lambda: step(x=batch, y=np.zeros((3, 5), np.float32)), "input 'y'")]:
        with pytest.raises(gc.InputError, match=pattern):
            call()


# ---- lossy conversions at call time: a gc.InputWarning, once per compiled function --------
def test_narrowing_float64_warns_once_per_compiled_function():
    x = gc.tensor("x", ("B",))
    f, g = gc.compile(x * 2), gc.compile(x * 3)
    with pytest.warns(gc.InputWarning, match=r"input 'x': float64 values were narrowed to "
                                             r"float32.*astype\(np.float32\)") as caught:
        f(x=np.ones(3))
        f(x=np.ones(3))  # the same function: said once
        g(x=np.ones(3))  # another compiled function says it again
    assert len(caught) == 2
    assert caught[0].filename == __file__  # it points at the caller's line


def test_no_warning_for_float32_input_or_a_float64_graph(recwarn):
    x, d = gc.tensor("x", ("B",)), gc.tensor("d", ("B",), dtype="float64")
    gc.compile(x * 2)(x=np.ones(3, np.float32))
    gc.compile(d * 2)(d=np.ones(3))
    gc.compile(x * 2)(x=np.ones(3, np.int64))  # integers become floats without loss here
    assert not [w for w in recwarn if issubclass(w.category, gc.InputWarning)]


def test_a_value_overflowing_to_inf_warns_once():
    x = gc.tensor("x", ("B",))
    f = gc.compile(x * 1)
    with pytest.warns(gc.InputWarning) as caught:
        out = f(x=np.array([1.0, 1e300]))
        f(x=np.array([1e300]))
    messages = [str(w.message) for w in caught]
    assert any("values such as 1e+300 overflowed to inf when cast to float32" in m
               for m in messages)
    assert len(messages) == 2  # narrowed once, overflowed once
    assert np.isinf(out[1])
    with pytest.warns(gc.InputWarning, match="overflowed"):  # an inf given is no overflow...
        gc.compile(x * 1)(x=np.array([np.inf, 1e300]))
    with warnings_as_errors():
        gc.compile(x * 1)(x=np.array([np.inf], np.float32))  # ... and float32 is no cast


# ---- messages a learner meets in the first hour ---------------------------------------------
def test_numpy_functions_on_a_tensor_say_which_graphc_function_to_use():
    x = gc.tensor("x", (3,))
    with pytest.raises(TypeError, match=r"np.exp cannot be applied to a graphc tensor.*gc.exp"):
        np.exp(x)
    with pytest.raises(TypeError, match=r"np.maximum.*gc.maximum"):
        np.maximum(x, 0)
    with pytest.raises(TypeError, match=r"np.arctan.*gc.elementwise"):
        np.arctan(x)
    # numpy operators on tensors still build graph ops
    assert (np.ones(3, np.float32) * x).op == "elementwise"
    assert np.add(x, 1.0).shape == (3,)


def test_compile_of_a_number_says_what_it_takes():
    with pytest.raises(TypeError, match=r"compile: outputs must be a graphc tensor or a list "
                                        r"of them.*got float 3.0"):
        gc.compile(3.0)


@pytest.mark.parametrize("mistake", [
    lambda x: np.exp(x), lambda x: x["a"], lambda x: float(x), lambda x: gc.compile(3.0),
    lambda x: list(x), lambda x: gc.grad(x.sum(), [3]), lambda x: gc.to_dot(3),
], ids=["np.exp", "index", "float", "compile a number", "iterate", "grad of a number",
        "draw a number"])
def test_errors_speak_of_tensors_not_nodes(mistake):
    with pytest.raises(TypeError) as info:
        mistake(gc.tensor("x", (3,)))
    assert "Node" not in str(info.value), str(info.value)
    assert "tensor" in str(info.value), str(info.value)


def test_dim_clash_names_both_inputs():
    a, b = gc.tensor("first", ("N", 2)), gc.tensor("second", ("N",))
    g = gc.compile(gc.sum(a) + gc.sum(b))
    with pytest.raises(gc.InputError) as info:
        g(first=np.zeros((3, 2)), second=np.zeros(4))
    assert "'first'" in str(info.value) and "'second'" in str(info.value)
    assert "N" in str(info.value)


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'fast'.*reference"):
        gc.compile(gc.tensor("x", (2,)) * 2, backend="fast")


def test_errors_do_not_come_from_deep_inside(f):
    """The error is raised by graphc's own checks, not by NumPy somewhere in a kernel."""
    feeds = dict(_good(), x=np.zeros((5, 3), np.float32))
    with pytest.raises(gc.InputError) as info:
        f(**feeds)
    assert info.traceback[-1].path.name == "binding.py"


@contextlib.contextmanager
def warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
