"""SGD and Adam against torch.optim itself (skipped where torch is not installed): the same
model, data and hyperparameters, several steps, parameters compared after every step."""
import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")

STEPS = 8
# float64 shows the update rules are the same formulas (agreement to rounding); float32 that
# the compiled float32 step stays within float32 rounding of torch's float32 step.
TOLERANCE = {"float64": 1e-12, "float32": 1e-6}


def run_both(kind, dtype, **options):
    """Train tanh(x @ W + b) with cross-entropy in graphc and in torch; returns the largest
    difference of W, b and the loss over all steps, and the graphc optimizer."""
    rng = np.random.default_rng(0)
    W0, b0 = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    batches = [(rng.standard_normal((7, 5)).astype(dtype), rng.integers(0, 3, 7))
               for _ in range(STEPS)]

    W, b = gc.nn.Parameter(W0, name="W", dtype=dtype), gc.nn.Parameter(b0, name="b", dtype=dtype)
    x, y = gc.tensor("x", ("B", 5), dtype=dtype), gc.tensor("y", ("B",), dtype="int64")
    opt = getattr(gc.optim, kind)([W, b], **options)
    step = gc.train_step(gc.cross_entropy(gc.tanh(x @ W + b), y), opt)

    tW, tb = torch.tensor(W0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    topt = getattr(torch.optim, kind)([tW, tb], **options)
    worst = 0.0
    for X, Y in batches:
        loss = step(x=X, y=Y)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(torch.tanh(torch.tensor(X) @ tW + tb),
                                                  torch.tensor(Y))
        tloss.backward()
        topt.step()
        worst = max(worst, abs(loss - tloss.item()),
                    float(np.abs(W.value - tW.detach().numpy()).max()),
                    float(np.abs(b.value - tb.detach().numpy()).max()))
    return worst, opt


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
])
def test_sgd_matches_torch(options, dtype):
    worst, _ = run_both("SGD", dtype, **options)
    assert worst < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", [
    dict(lr=1e-3),
    dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6),
    dict(lr=0.05, weight_decay=0.1),  # L2 added to the gradient, as torch.optim.Adam (not AdamW)
])
def test_adam_matches_torch_with_bias_correction(options, dtype):
    worst, opt = run_both("Adam", dtype, **options)
    # Before the bias corrections were computed in float64, 1 - 0.999**t in float32 put
    # float32 Adam about 7e-6 from torch and float64 Adam about 2e-6.
    assert worst < TOLERANCE[dtype]
    assert float(opt.state["step"]) == STEPS


def test_the_learning_rate_has_the_parameters_dtype():
    """A float64 model's lr is not rounded to float32 (0.1 is not a float32 number)."""
    for dtype in ("float32", "float64"):
        w = gc.nn.Parameter(np.ones(2), name="w", dtype=dtype)
        step = gc.train_step((w.node * w.node).sum(), gc.optim.SGD([w], lr=0.1))
        assert step.update.lr.dtype == dtype
        assert {n.dtype for n in step.update.new_params} == {dtype}
        step()
        np.testing.assert_array_equal(w.value, np.ones(2, dtype) - np.asarray(0.1, dtype) * 2)
