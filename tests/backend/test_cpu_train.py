"""gc.train_step on the cpu backend: parameters and optimizer state are updated in place
(buffer donation: the kernel that computes a new value writes it into the array it replaces,
or a copy at the end does where the old value is read later), with the reference's results."""
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.lower.program import ContractKernel


def mlp_step(backend, optimizer):
    gc.nn.manual_seed(0)
    model = gc.nn.Sequential(gc.nn.Linear(6, 8), gc.nn.ReLU(), gc.nn.Linear(8, 3))
    x, y = gc.tensor("x", ("B", 6)), gc.tensor("y", ("B",), "int64")
    opt = optimizer(model.parameters())
    return model, opt, gc.train_step(gc.cross_entropy(model(x), y), opt, backend=backend)


@pytest.mark.parametrize("optimizer", [lambda p: gc.optim.SGD(p, lr=0.1, momentum=0.9),
                                       lambda p: gc.optim.Adam(p, lr=0.01)],
                         ids=["sgd-momentum", "adam"])
def test_in_place_steps_equal_the_reference(optimizer):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    ref_model, _, ref = mlp_step("reference", optimizer)
    cpu_model, cpu_opt, cpu = mlp_step("cpu", optimizer)
    arrays = [p.value for p in cpu_model.parameters()]
    for _ in range(5):
        assert cpu(x=X, y=Y) == pytest.approx(ref(x=X, y=Y), rel=1e-5)
    for a, p in zip(arrays, cpu_model.parameters()):
        assert p.value is a  # the same arrays, updated in place
    for p, q in zip(cpu_model.parameters(), ref_model.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-4, atol=1e-6)


def test_new_parameters_are_written_into_the_parameters():
    _, _, step = mlp_step("cpu", lambda p: gc.optim.SGD(p, lr=0.1))
    program = step.compiled.impl.program
    donated = [o.buffer for o in program.outputs[1:]]
    assert all(program.buffers[b].role == "input" for b in donated)
    # the weight updates are gemms that accumulate into the weights (beta = 1)
    forms = [k.gemm_form() for k in program.kernels if isinstance(k, ContractKernel)
             and k.out.buffer in donated]
    assert forms and all(f is not None for f in forms)


def test_an_output_written_in_place_is_handed_back_as_the_input_itself():
    """The array the caller donated comes back as that same object (no view, so a train step
    has nothing to copy back), on the fast path and on the checked one (which converts x)."""
    x, w = gc.tensor("x", ("B", 4)), gc.tensor("w", (4, 3))
    loss = gc.sum((x @ w) ** 2)
    f = gc.compile([loss, w - 0.1 * gc.grad(loss, w)], backend="cpu", donate={1: "w"})
    ref = gc.compile([loss, w - 0.1 * gc.grad(loss, w)])
    for xs in (np.ones((2, 4), np.float32), np.ones((2, 4), np.float16)):
        w0 = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
        want = ref(x=xs.astype(np.float32), w=w0.copy())[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the float16 x, converted
            got = f(x=xs, w=w0)[1]
        assert got is w0
        np.testing.assert_allclose(w0, want, rtol=1e-6)
