"""Every bad input of the issue gets a clear error of the right type that names the culprit:
the op and both shapes while building, the input's name at call time."""
import numpy as np
import pytest

import graphc as gc


# ---- while building: gc.ShapeError (a ValueError) naming the op and the shapes -------------
def test_shape_error_is_a_value_error():
    assert issubclass(gc.ShapeError, ValueError) and issubclass(gc.InputError, ValueError)


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
    with pytest.raises(err, match=pattern):
        f(**feeds)


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
