"""Module and Parameter (graphc/nn/module.py): registration by attribute assignment,
dotted names, state_dict round trips and their errors, seeded initialization, and
gc.nn.function feeding the current parameter values."""
import copy

import numpy as np
import pytest

import graphc as gc


class MLP(gc.nn.Module):
    def __init__(self, sizes=(4, 8, 3)):
        super().__init__()
        self.layers = [gc.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
        self.scale = gc.nn.Parameter(np.ones(sizes[-1]))
        self.note = "not registered"

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = gc.relu(x)
        return x * self.scale.node


def test_attributes_register_parameters_modules_and_lists_in_order():
    model = MLP()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["scale", "layers.0.weight", "layers.0.bias", "layers.1.weight",
                     "layers.1.bias"]
    assert isinstance(model.layers, gc.nn.ModuleList) and len(model.layers) == 2
    assert model.note == "not registered" and model.num_parameters() == 3 + 4 * 8 + 8 + 8 * 3 + 3
    assert [type(m).__name__ for _, m in model.named_modules()] == ["MLP", "ModuleList",
                                                                    "Linear", "Linear"]
    del model.scale
    assert "scale" not in dict(model.named_parameters())
    model.layers = None  # reassigning a plain value unregisters the module list
    assert list(model.named_parameters()) == []


def test_shared_parameters_are_listed_once():
    class Tied(gc.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = gc.nn.Linear(3, 3)
            self.b = gc.nn.Linear(3, 3)
            self.b.weight = self.a.weight
    assert [n for n, _ in Tied().named_parameters()] == ["a.weight", "a.bias", "b.bias"]


def test_the_outermost_call_names_graph_inputs_after_the_dotted_names():
    model = MLP()
    out = model(gc.tensor("x", ("B", 4)))
    inputs = {n.name for n in gc.Graph.of([out]).inputs}
    assert {"x", "scale", "layers_0_weight", "layers_0_bias", "layers_1_weight",
            "layers_1_bias"} <= inputs
    assert model.layers[0].weight.node.shape == (4, 8)
    seq = gc.nn.Sequential(gc.nn.Linear(2, 2))  # "0.weight" is not an identifier
    seq(gc.tensor("x", (1, 2)))
    assert seq[0].weight.name == "param_0_weight"


def test_two_standalone_layers_get_distinct_input_names():
    a, b = gc.nn.Linear(3, 3), gc.nn.Linear(3, 3)
    y = b(a(gc.tensor("x", (2, 3))))
    names = [n.name for n in gc.Graph.of([y]).inputs]
    assert len(names) == len(set(names)) == 5
    X = np.ones((2, 3), np.float32)
    want = (X @ a.weight.value + a.bias.value) @ b.weight.value + b.bias.value
    np.testing.assert_allclose(gc.nn.function(y)(x=X), want, rtol=1e-5)


def test_parameter_values_are_float32_arrays_assigned_in_place():
    p = gc.nn.Parameter([[1, 2.5]], name="w")
    assert p.dtype == "float32" and p.shape == (1, 2)
    arr = p.value
    p.value = np.array([[3.0, 4.0]])
    assert p.value is arr and p.value.tolist() == [[3.0, 4.0]]
    with pytest.raises(gc.ShapeError, match="'w'.*shape \\(2,\\).*\\(1, 2\\)"):
        p.value = np.zeros(2)
    with pytest.raises(TypeError, match="floating point"):
        gc.nn.Parameter(np.array([1, 2]))


def test_state_dict_round_trip_copies_values():
    gc.nn.manual_seed(0)
    a = MLP()
    gc.nn.manual_seed(1)
    b = MLP()
    state = a.state_dict()
    assert list(state) == [n for n, _ in a.named_parameters()]
    state["scale"][:] = 7  # a copy: the model is untouched
    assert a.scale.value[0] == 1
    b.load_state_dict(a.state_dict())
    for (n, p), (m, q) in zip(a.named_parameters(), b.named_parameters()):
        assert n == m and np.array_equal(p.value, q.value) and p.value is not q.value


def test_load_state_dict_errors_name_the_entries_and_change_nothing():
    model = MLP()
    before = model.state_dict()
    bad = model.state_dict()
    del bad["layers.1.bias"]
    bad["layers.2.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"missing entries \['layers.1.bias'\].*unexpected "
                                         r"entries \['layers.2.weight'\]"):
        model.load_state_dict(bad)
    wrong = model.state_dict()
    wrong["scale"] = np.zeros(3) + 5
    wrong["layers.0.weight"] = np.zeros((8, 4))
    with pytest.raises(ValueError, match=r"'layers.0.weight' has shape \(8, 4\).*\(4, 8\)"):
        model.load_state_dict(wrong)
    for n, v in model.state_dict().items():  # scale was checked too, and not copied
        assert np.array_equal(v, before[n])
    partial = {"scale": np.full(3, 2.0)}
    model.load_state_dict(partial, strict=False)
    assert model.scale.value.tolist() == [2, 2, 2]


def test_manual_seed_makes_initialization_reproducible():
    gc.nn.manual_seed(123)
    a = MLP().state_dict()
    gc.nn.manual_seed(123)
    b = MLP().state_dict()
    gc.nn.manual_seed(124)
    c = MLP().state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["layers.0.weight"], c["layers.0.weight"])


def test_function_feeds_the_current_parameter_values():
    model = gc.nn.Linear(2, 1, bias=False)
    x = gc.tensor("x", ("B", 2))
    f = gc.nn.function(model(x))
    assert f.input_names == ["x"] and list(f.parameters) == [model.weight.name]
    model.weight.value = [[1.0], [2.0]]
    assert f(x=np.array([[1.0, 1.0]])).tolist() == [[3.0]]
    model.weight.value = [[0.0], [1.0]]
    assert f(np.array([[1.0, 1.0]])).tolist() == [[1.0]]  # positional data inputs too
    with pytest.raises(TypeError, match="is a parameter, fed from the model"):
        f(x=np.ones((1, 2)), **{model.weight.name: np.ones((2, 1))})
    with pytest.raises(TypeError, match="gc.nn.function"):
        gc.nn.function([np.ones(2)])


def test_module_misuse_is_a_clear_error():
    class Forgot(gc.nn.Module):
        def __init__(self):
            self.w = gc.nn.Parameter(np.ones(2))
    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgot()
    with pytest.raises(NotImplementedError, match="forward"):
        gc.nn.Module()(gc.tensor("x", (1,)))
    with pytest.raises(AttributeError, match="'Linear' has no attribute 'wieght'"):
        gc.nn.Linear(2, 2).wieght
    with pytest.raises(TypeError, match="container"):
        gc.nn.ModuleList([gc.nn.ReLU()])(gc.tensor("x", (1,)))


def test_repr_shows_the_tree():
    text = repr(gc.nn.Sequential(gc.nn.Linear(64, 128), gc.nn.ReLU(), gc.nn.Linear(128, 10)))
    assert text.splitlines()[1].strip() == \
        "(0): Linear(in_features=64, out_features=128, bias=True)"
    assert "(1): ReLU()" in text


def test_sequential_applies_its_modules_in_order():
    gc.nn.manual_seed(0)
    net = gc.nn.Sequential(gc.nn.Linear(3, 4), gc.nn.Tanh(), gc.nn.Linear(4, 2))
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                      "2.bias"]
    assert isinstance(net[:2], gc.nn.Sequential) and len(net[:2]) == 2
    X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    got = gc.nn.function(net(gc.tensor("x", ("B", 3))))(x=X)
    h = np.tanh(X @ net[0].weight.value + net[0].bias.value)
    np.testing.assert_allclose(got, h @ net[2].weight.value + net[2].bias.value, rtol=1e-5,
                               atol=1e-6)


def test_a_deep_copy_is_an_independent_model_with_its_own_inputs():
    model = MLP()
    x = gc.tensor("x", ("B", 4))
    model(x)
    twin = copy.deepcopy(model)
    twin.scale.value = np.full(3, 5.0)
    assert model.scale.value.tolist() == [1, 1, 1]
    X = np.ones((2, 4), np.float32)
    a, b = gc.nn.function(model(x))(x=X), gc.nn.function(twin(x))(x=X)
    np.testing.assert_allclose(b, 5 * a, rtol=1e-5)
    assert twin.scale.name != model.scale.name


def test_grad_takes_parameters_as_it_takes_their_nodes():
    gc.nn.manual_seed(0)
    model = gc.nn.Linear(3, 2)
    x = gc.tensor("x", ("B", 3))
    loss = gc.sum(model(x) * model(x))
    by_param = gc.grad(loss, model.parameters())
    by_node = gc.grad(loss, [p.node for p in model.parameters()])
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    f = gc.nn.function(by_param + by_node)
    gw, gb, gw2, gb2 = f(x=X)
    W, b = model.weight.value, model.bias.value
    np.testing.assert_allclose(gw, X.T @ (2 * (X @ W + b)), rtol=1e-5)
    np.testing.assert_allclose(gb, (2 * (X @ W + b)).sum(0), rtol=1e-5)
    np.testing.assert_array_equal(gw, gw2)
    np.testing.assert_array_equal(gb, gb2)
    (single,) = [gc.grad(loss, model.bias)]
    assert single.shape == (2,)


def test_nodes_carry_the_dotted_name_of_the_module_that_built_them():
    """Drawings cluster by it (issue 8): the innermost module's name, as named_modules gives
    it from the module called; a parameter's input is its owner's; backward nodes follow."""
    gc.nn.manual_seed(0)
    net = gc.nn.Sequential(gc.nn.Linear(3, 4), gc.nn.ReLU(), gc.nn.Linear(4, 2))
    x = gc.tensor("x", ("B", 3))
    out = net(x)
    scopes = {n.scope for n in gc.Graph.of([out]).nodes()}
    assert scopes == {"", "0", "1", "2"}  # "" is the data input x, built outside
    assert net[0].weight.node.scope == "0" and net[2].bias.node.scope == "2"
    assert out.scope == "2"
    loss = out.sum()
    grads = gc.grad(loss, net.parameters())
    backward = {n.scope for n in gc.Graph.of(grads).nodes() if n.origin == "grad"}
    assert {"0", "1", "2"} <= backward
    assert gc.relu(x).scope == ""  # outside any call, nothing is marked
