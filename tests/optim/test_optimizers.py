"""SGD and Adam (graphc/optim/): several compiled steps against hand-written NumPy versions
of torch.optim's update formulas; state dicts and their errors."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(0)


# ---- torch.optim's formulas, written out in NumPy (float64) -------------------------------
def torch_sgd(params, grads, bufs, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    for i, (p, g) in enumerate(zip(params, grads)):
        d = g + weight_decay * p
        if momentum:
            bufs[i] = d.copy() if bufs[i] is None else momentum * bufs[i] + d
            d = d + momentum * bufs[i] if nesterov else bufs[i]
        params[i] = p - lr * d


def torch_adam(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    state["step"] += 1
    t = state["step"]
    for i, (p, g) in enumerate(zip(params, grads)):
        g = g + weight_decay * p
        state["m"][i] = b1 * state["m"][i] + (1 - b1) * g
        state["v"][i] = b2 * state["v"][i] + (1 - b2) * g * g
        step_size = lr / (1 - b1 ** t)
        denom = np.sqrt(state["v"][i]) / np.sqrt(1 - b2 ** t) + eps
        params[i] = p - step_size * state["m"][i] / denom


# ---- a problem whose gradient NumPy knows: loss = sum((p - t)^2) / 2, so g = p - t --------
def problem():
    w = gc.nn.Parameter(RNG.standard_normal((3, 2)), name="w")
    b = gc.nn.Parameter(RNG.standard_normal(2), name="b")
    tw, tb = gc.tensor("tw", (3, 2)), gc.tensor("tb", (2,))
    loss = 0.5 * (((w.node - tw) ** 2).sum() + ((b.node - tb) ** 2).sum())
    return [w, b], loss


def targets(k):
    return [RNG.standard_normal((3, 2)) for _ in range(k)], [RNG.standard_normal(2)
                                                             for _ in range(k)]


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
])
def test_sgd_follows_torch_formulas_over_several_steps(options):
    params, loss = problem()
    step = gc.train_step(loss, gc.optim.SGD(params, **options))
    mine = [p.value.astype(np.float64) for p in params]
    bufs = [None, None]
    for tw, tb in zip(*targets(5)):
        step(tw=tw, tb=tb)
        torch_sgd(mine, [mine[0] - tw, mine[1] - tb], bufs, **options)
        for p, want in zip(params, mine):
            np.testing.assert_allclose(p.value, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", [
    dict(lr=0.01),
    dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.05, weight_decay=0.1),
])
def test_adam_follows_torch_formulas_with_bias_correction(options):
    params, loss = problem()
    opt = gc.optim.Adam(params, **options)
    step = gc.train_step(loss, opt)
    mine = [p.value.astype(np.float64) for p in params]
    state = {"step": 0, "m": [0.0, 0.0], "v": [0.0, 0.0]}
    for tw, tb in zip(*targets(6)):
        step(tw=tw, tb=tb)
        torch_adam(mine, [mine[0] - tw, mine[1] - tb], state, **options)
        for p, want in zip(params, mine):
            np.testing.assert_allclose(p.value, want, rtol=1e-5, atol=1e-6)
    assert float(opt.state["step"]) == 6
    np.testing.assert_allclose(opt.state["exp_avg.0"], state["m"][0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(opt.state["exp_avg_sq.1"], state["v"][1], rtol=1e-5, atol=1e-9)


def test_the_learning_rate_is_an_input_changed_without_recompiling():
    params, loss = problem()
    opt = gc.optim.SGD(params, lr=0.1)
    step = gc.train_step(loss, opt)
    compiled = step.compiled
    tw, tb = np.zeros((3, 2)), np.zeros(2)
    before = params[1].value.copy()
    opt.lr = 0.5
    step(tw=tw, tb=tb)
    assert step.compiled is compiled
    np.testing.assert_allclose(params[1].value, before - 0.5 * before, rtol=1e-6)


def test_update_rules_are_graph_nodes_with_named_state_inputs():
    params, loss = problem()
    step = gc.train_step(loss, gc.optim.Adam(params))
    names = step.compiled.input_names
    assert names[:2] == ["tw", "tb"]
    assert {"adam_lr", "adam_step", "adam_exp_avg_w", "adam_exp_avg_sq_b"} <= set(names)
    ops = {n.op for n in step.compiled.raw_graph.nodes()}
    assert "elementwise" in ops and len(step.update.new_params) == 2
    assert list(step.update.state_outputs) == ["step", "exp_avg.0", "exp_avg_sq.0",
                                               "exp_avg.1", "exp_avg_sq.1"]


def test_state_dict_round_trip_and_errors():
    params, loss = problem()
    opt = gc.optim.Adam(params, lr=0.01, betas=(0.8, 0.9))
    step = gc.train_step(loss, opt)
    tw, tb = targets(1)
    step(tw=tw[0], tb=tb[0])
    state = opt.state_dict()
    assert list(state) == ["step", "exp_avg.0", "exp_avg.1", "exp_avg_sq.0", "exp_avg_sq.1",
                           "lr", "beta1", "beta2", "eps", "weight_decay"]
    other = gc.optim.Adam(params, lr=0.5, betas=(0.8, 0.9))
    other.load_state_dict(state)
    assert other.lr == 0.01 and float(other.state["step"]) == 1
    np.testing.assert_array_equal(other.state["exp_avg.1"], opt.state["exp_avg.1"])

    with pytest.raises(ValueError, match="'beta2' is 0.9 in the state but 0.999"):
        gc.optim.Adam(params, lr=0.01, betas=(0.8, 0.999)).load_state_dict(state)
    bad = dict(state, **{"exp_avg.1": np.zeros(3)})
    with pytest.raises(ValueError, match=r"'exp_avg.1' has shape \(3,\), expected \(2,\)"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"missing entries \['exp_avg.2', 'exp_avg_sq.2'\]"):
        gc.optim.Adam(params + [gc.nn.Parameter(np.ones(2))], lr=0.01,
                      betas=(0.8, 0.9)).load_state_dict(state)
    sgd_state = gc.optim.SGD(params, lr=0.1).state_dict()
    assert list(sgd_state) == ["lr", "momentum", "weight_decay", "nesterov"]
    with pytest.raises(ValueError, match=r"unexpected entries \['step'"):
        gc.optim.SGD(params, lr=0.1).load_state_dict(state)


def test_optimizer_arguments_are_checked():
    p = gc.nn.Parameter(np.ones(2))
    with pytest.raises(TypeError, match="model.parameters\\(\\), not the model"):
        gc.optim.SGD(gc.nn.Linear(2, 2), lr=0.1)
    with pytest.raises(TypeError, match="Parameter objects, got ndarray"):
        gc.optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        gc.optim.Adam([])
    with pytest.raises(ValueError, match="invalid learning rate"):
        gc.optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        gc.optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="nesterov"):
        gc.optim.SGD([p], lr=0.1, nesterov=True)
    assert len(gc.optim.SGD([p, p], lr=0.1).params) == 1  # duplicates count once
