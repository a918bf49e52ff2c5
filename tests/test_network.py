"""The network's math: gradients against finite differences, training, saving and loading."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from model.network import (
    CHECKPOINT_FORMAT,
    COSTS,
    CrossEntropyCost,
    Network,
    QuadraticCost,
    SGDState,
    WeightsError,
    learning_rate,
    one_hot,
    relu_prime,
    sigmoid,
    sigmoid_prime,
    softmax,
)

COMBINATIONS = [(c, a) for c in ("quadratic", "cross-entropy") for a in ("sigmoid", "relu")]


def small_batch(seed: int = 0, n_in: int = 6, k: int = 3, m: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n_in, m)), one_hot(rng.integers(0, k, m), k, np.float64)


def numerical_gradient(net: Network, x, y, lmbda: float, n: int, layer: int, eps: float = 1e-6):
    """Central differences of total_cost with respect to weights[layer] and biases[layer]."""
    grads = []
    for param in (net.weights[layer], net.biases[layer]):
        g = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            old = param[idx]
            param[idx] = old + eps
            plus = net.total_cost(x, y, lmbda, n)
            param[idx] = old - eps
            minus = net.total_cost(x, y, lmbda, n)
            param[idx] = old
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


@pytest.mark.parametrize(("cost", "activation"), COMBINATIONS)
@pytest.mark.parametrize("lmbda", [0.0, 0.7])
def test_backprop_matches_finite_differences(cost, activation, lmbda):
    net = Network([6, 5, 4, 3], cost=cost, activation=activation, dtype="float64", seed=1)
    x, y = small_batch()
    m, n = x.shape[1], 20
    nabla_b, nabla_w = net.backprop(x, y)
    for layer in range(len(net.weights)):
        num_w, num_b = numerical_gradient(net, x, y, lmbda, n, layer)
        # total_cost is the batch mean plus lmbda/(2n) |w|^2; backprop gives the summed cost's gradient.
        assert relative_error(nabla_w[layer] / m + lmbda / n * net.weights[layer], num_w) < 1e-6
        assert relative_error(nabla_b[layer] / m, num_b) < 1e-6


@pytest.mark.parametrize(("cost", "activation"), COMBINATIONS)
@pytest.mark.parametrize("reused_buffers", [False, True])
def test_update_mini_batch_steps_down_the_gradient_of_total_cost(cost, activation, reused_buffers):
    """One step of plain SGD moves every parameter by -eta times the numerical gradient, also
    when the step's gradient buffers (kept in the SGD state) still hold an earlier step's."""
    net = Network([6, 5, 3], cost=cost, activation=activation, dtype="float64", seed=2)
    state = None
    if reused_buffers:
        state = SGDState()
        net.update_mini_batch(small_batch(seed=4), 0.3, state=state)
    x, y = small_batch(seed=3)
    lmbda, n, eta = 0.5, 30, 0.01
    expected = []
    for layer in range(2):
        num_w, num_b = numerical_gradient(net, x, y, lmbda, n, layer)
        expected.append((net.weights[layer] - eta * num_w, net.biases[layer] - eta * num_b))
    net.update_mini_batch((x, y), eta, lmbda=lmbda, n=n, state=state)
    for layer, (w, b) in enumerate(expected):
        np.testing.assert_allclose(net.weights[layer], w, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(net.biases[layer], b, rtol=1e-7, atol=1e-9)


def test_vectorised_backprop_equals_sum_of_per_example_gradients():
    net = Network([6, 5, 4, 3], cost="cross-entropy", activation="relu", dtype="float64", seed=4)
    x, y = small_batch(seed=5, m=9)
    nabla_b, nabla_w = net.backprop(x, y)
    for layer in range(3):
        per_w = sum(net.backprop(x[:, j : j + 1], y[:, j : j + 1])[1][layer] for j in range(9))
        per_b = sum(net.backprop(x[:, j : j + 1], y[:, j : j + 1])[0][layer] for j in range(9))
        np.testing.assert_allclose(nabla_w[layer], per_w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(nabla_b[layer], per_b, rtol=1e-10, atol=1e-12)


def test_momentum_accumulates_velocity():
    """With momentum mu, the second step is -eta*g2 + mu*(first step)."""
    x, y = small_batch(seed=6)
    plain = Network([6, 4, 3], dtype="float64", seed=7)
    w0 = plain.weights[0].copy()
    g1 = plain.backprop(x, y)[1][0] / x.shape[1]
    net = Network([6, 4, 3], dtype="float64", seed=7)
    state = SGDState()
    net.update_mini_batch((x, y), 0.5, momentum=0.9, state=state)
    np.testing.assert_allclose(net.weights[0], w0 - 0.5 * g1)
    g2 = net.backprop(x, y)[1][0] / x.shape[1]
    w1 = net.weights[0].copy()
    net.update_mini_batch((x, y), 0.5, momentum=0.9, state=state)
    np.testing.assert_allclose(net.weights[0], w1 - 0.5 * g2 + 0.9 * (w1 - w0), rtol=1e-10)
    np.testing.assert_allclose(state.velocities[1][0], net.weights[0] - w1, rtol=1e-10)
    assert state.step == 2


def test_momentum_without_a_state_is_refused():
    net = Network([6, 4, 3], dtype="float64", seed=7)
    with pytest.raises(ValueError, match="momentum needs an SGDState"):
        net.update_mini_batch(small_batch(), 0.5, momentum=0.9)


def test_helpers():
    z = np.array([[-800.0, -1.0, 0.0, 1.0, 800.0]])
    s = sigmoid(z)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s[0, 1:4], 1 / (1 + np.exp(-z[0, 1:4])))
    np.testing.assert_allclose(sigmoid_prime(z)[0, 2], 0.25)
    np.testing.assert_array_equal(relu_prime(z), [[0, 0, 0, 1, 1]])
    p = softmax(np.array([[1000.0, 0.0], [1000.0, 0.0]]))
    np.testing.assert_allclose(p, 0.5)
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 1], [0, 0], [1, 0]])


@pytest.mark.parametrize(
    ("schedule", "epoch", "expected"),
    [
        ("constant", 9, 0.5),
        ("cosine", 0, 0.5),
        ("cosine", 5, 0.25),
        ("step", 4, 0.5),
        ("step", 5, 0.05),
        ("step", 8, 0.005),
    ],
)
def test_learning_rate_schedules(schedule, epoch, expected):
    assert learning_rate(schedule, 0.5, epoch, 10) == pytest.approx(expected)


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_feedforward_and_predict_proba_shapes(cost):
    net = Network([784, 15, 10], cost=cost, seed=0)
    a = np.random.default_rng(0).random((784, 5))
    assert net.feedforward(a).shape == (10, 5)
    assert net.feedforward(a).dtype == np.float32
    p = net.predict_proba(a)
    assert p.shape == (10, 5)
    np.testing.assert_allclose(p.sum(axis=0), 1, rtol=1e-5)
    assert net.feedforward(a[:, 0]).shape == (10, 1)
    with pytest.raises(ValueError, match=r"input must have shape \(784, n\)"):
        net.feedforward(np.zeros((783, 2)))


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_activations_are_each_layers_output(activation):
    net = Network([784, 20, 12, 10], activation=activation, cost="cross-entropy", seed=1)
    a = np.random.default_rng(1).random((784, 3))
    layers = net.activations(a)
    assert [x.shape for x in layers] == [(20, 3), (12, 3), (10, 3)]
    # Each layer is the previous one through its weights, as the classic feedforward computes.
    hidden = sigmoid if activation == "sigmoid" else (lambda z: np.maximum(z, 0))
    np.testing.assert_allclose(layers[0], hidden(net.weights[0] @ a + net.biases[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layers[1], hidden(net.weights[1] @ layers[0] + net.biases[1]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layers[-1], net.feedforward(a))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": [784]}, "at least two"),
        ({"sizes": [784, 0, 10]}, "positive"),
        ({"cost": "hinge"}, "unknown cost"),
        ({"activation": "tanh"}, "unknown activation"),
        ({"dtype": "float16"}, "unknown dtype"),
    ],
)
def test_invalid_construction_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Network(**{"sizes": [4, 3, 2], **kwargs})


def test_same_seed_same_network_and_training():
    rng = np.random.default_rng(0)
    X, y = rng.random((8, 50)), rng.integers(0, 3, 50)
    nets = [Network([8, 6, 3], cost="cross-entropy", seed=11) for _ in range(2)]
    histories = [net.SGD((X, y), 2, 5, 0.5) for net in nets]
    assert [r.cost for r in histories[0]] == [r.cost for r in histories[1]]
    np.testing.assert_array_equal(nets[0].weights[0], nets[1].weights[0])
    other = Network([8, 6, 3], cost="cross-entropy", seed=12)
    assert not np.array_equal(other.weights[0], nets[0].weights[0])


def separable_problem(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes, each a bright patch in a different third of a 12-pixel input."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.random((12, n)) * 0.3
    for k in range(3):
        X[4 * k : 4 * k + 4, y == k] += 0.7
    return X, y


@pytest.mark.parametrize(
    ("cost", "activation", "eta"),
    [
        ("quadratic", "sigmoid", 3.0),
        ("cross-entropy", "relu", 0.1),
        ("cross-entropy", "sigmoid", 0.5),
    ],
)
def test_sgd_learns_and_reports_history(cost, activation, eta):
    X, y = separable_problem()
    net = Network([12, 8, 3], cost=cost, activation=activation, seed=0)
    seen = []
    before = net.evaluate((X, y))
    history = net.SGD(
        (X[:, :500], y[:500]),
        5,
        10,
        eta,
        validation_data=(X[:, 500:], y[500:]),
        momentum=0.5,
        lmbda=0.1,
        on_epoch=seen.append,
    )
    assert len(history) == 5 and seen == history
    assert history[-1].validation_accuracy > 0.95
    assert history[-1].cost < history[0].cost
    assert net.evaluate((X, y)) > max(before, 570)


def test_sgd_batches_call_progress_and_transform():
    X, y = separable_problem(n=95)
    calls, transformed = [], []

    def transform(x, rng):
        transformed.append(x.shape)
        return x

    Network([12, 4, 3], seed=0).SGD(
        (X, y), 2, 10, 1.0, transform=transform, on_batch=lambda done, total: calls.append((done, total))
    )
    assert transformed == [(12, 95), (12, 95)]
    assert calls[:10] == [(d, 95) for d in [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]]
    assert len(calls) == 20


# -- costs, the forward pass and the parameters ----------------------------------------------------


@pytest.mark.parametrize("cost", [QuadraticCost, CrossEntropyCost])
def test_cost_delta_is_the_gradient_of_fn_through_the_output_activation(cost):
    """delta(a, y) = dC/dz of the output layer: central differences of fn(output(z), y) in z."""
    rng = np.random.default_rng(8)
    z = rng.normal(size=(4, 5)) * 2
    y = one_hot(rng.integers(0, 4, 5), 4, np.float64)
    numeric = np.zeros_like(z)
    eps = 1e-6
    for idx in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (cost.fn(cost.output(plus), y) - cost.fn(cost.output(minus), y)) / (2 * eps)
    assert relative_error(cost.delta(cost.output(z), y), numeric) < 1e-7


def test_quadratic_delta_is_the_classic_cost_derivative_times_sigmoid_prime():
    z = np.random.default_rng(9).normal(size=(3, 4)) * 3
    a, y = sigmoid(z), one_hot(np.array([0, 2, 1, 1]), 3, np.float64)
    net = Network([2, 3], seed=0)
    np.testing.assert_allclose(QuadraticCost.delta(a, y), net.cost_derivative(a, y) * sigmoid_prime(z), rtol=1e-12)


def test_costs_are_registered_by_their_names():
    assert dict(COSTS) == {"quadratic": QuadraticCost, "cross-entropy": CrossEntropyCost}
    for name, cost in COSTS.items():
        net = Network([4, 3, 2], cost=name, seed=0)
        assert net.cost == name and net.cost_function is cost
    a, y = np.array([[0.25], [0.75]]), np.array([[0.0], [1.0]])
    assert QuadraticCost.fn(a, y) == pytest.approx(0.5 * (0.25**2 + 0.25**2))
    assert CrossEntropyCost.fn(a, y) == pytest.approx(-np.log(0.75))
    # A softmax output that underflows to 0 on the true class costs a large finite amount, not inf.
    assert 80 < CrossEntropyCost.fn(np.array([[1.0], [0.0]], np.float32), y) < 110


@pytest.mark.parametrize(("cost", "activation"), COMBINATIONS)
def test_forward_gives_every_layers_weighted_input_and_activation(cost, activation):
    net = Network([7, 5, 4, 3], cost=cost, activation=activation, dtype="float64", seed=3)
    a = np.random.default_rng(3).random((7, 6))
    zs, activations = net.forward(a)
    assert [z.shape for z in zs] == [(5, 6), (4, 6), (3, 6)]
    assert activations[0] is a and len(activations) == 4
    hidden = sigmoid if activation == "sigmoid" else (lambda v: np.maximum(v, 0))
    output = sigmoid if cost == "quadratic" else softmax
    for layer, (w, b) in enumerate(zip(net.weights, net.biases)):
        np.testing.assert_allclose(zs[layer], w @ activations[layer] + b, rtol=1e-12)
        f = output if layer == 2 else hidden
        np.testing.assert_allclose(activations[layer + 1], f(zs[layer]), rtol=1e-12)
    np.testing.assert_array_equal(net.feedforward(a), activations[-1])


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_predict_proba_normalises_the_output(cost):
    net = Network([6, 5, 3], cost=cost, dtype="float64", seed=5)
    a = np.random.default_rng(5).random((6, 4))
    out = net.feedforward(a)
    np.testing.assert_allclose(net.predict_proba(a), out / out.sum(axis=0), rtol=1e-12)
    # Sigmoid outputs that all underflow to 0 still give a distribution.
    net.biases[-1][:] = -800.0
    p = net.predict_proba(a)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=0), 1)


def test_parameters_are_copies_and_set_parameters_restores_them():
    net = Network([4, 3, 2], seed=0)
    saved = net.parameters()
    assert sorted(saved) == ["b0", "b1", "w0", "w1"]
    x = np.random.default_rng(0).random((4, 5))
    before = net.feedforward(x)
    net.update_mini_batch((x, one_hot(np.arange(5) % 2, 2)), 1.0)
    assert not np.array_equal(net.feedforward(x), before)
    net.set_parameters(saved)
    np.testing.assert_array_equal(net.feedforward(x), before)
    saved["w0"][:] = 0  # the network holds copies, not the caller's arrays
    np.testing.assert_array_equal(net.feedforward(x), before)
    net.set_parameters({**saved, "b1": np.zeros((2, 1), np.float64)})
    assert net.biases[1].dtype == np.float32
    with pytest.raises(ValueError, match="layer 0 needs weights"):
        net.set_parameters({**saved, "w0": np.zeros((4, 3))})


def test_a_generator_as_seed_is_drawn_from():
    """The trainer gives the network and its SGD state one generator: the initial weights are
    the same as from the integer seed, and the state's shuffles continue the stream after them."""
    rng = np.random.default_rng(4)
    from_generator = Network([5, 4, 3], seed=rng)
    from_int = Network([5, 4, 3], seed=4)
    for a, b in zip(from_generator.weights + from_generator.biases, from_int.weights + from_int.biases):
        np.testing.assert_array_equal(a, b)
    assert rng.bit_generator.state != np.random.default_rng(4).bit_generator.state
    assert SGDState(rng).rng is rng


# -- the SGD state ---------------------------------------------------------------------------------


def jitter(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A transform that draws from the training generator, as the augmentations do."""
    return X + 0.05 * rng.standard_normal(X.shape)


def test_sgd_state_round_trips_through_npz_exactly(tmp_path):
    X, y = separable_problem(n=120)
    net = Network([12, 6, 3], cost="cross-entropy", activation="relu", seed=0)
    state = SGDState(5)
    net.SGD((X, y), 2, 10, 0.1, momentum=0.9, transform=jitter, state=state)
    assert (state.epoch, state.step) == (2, 24)
    path = tmp_path / "state.npz"
    np.savez(path, **state.state_dict())
    restored = SGDState()
    with np.load(path, allow_pickle=False) as arrays:
        restored.load_state_dict(arrays)
    assert (restored.epoch, restored.step) == (2, 24)
    assert restored.rng.bit_generator.state == state.rng.bit_generator.state
    for kind in range(2):
        for a, b in zip(state.velocities[kind], restored.velocities[kind], strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(restored.rng.random(8), state.rng.random(8))
    # Without momentum there are no velocities to save.
    plain = SGDState(1)
    Network([12, 6, 3], seed=0).SGD((X, y), 1, 10, 0.1, state=plain)
    assert set(plain.state_dict()) == {"state"}
    empty = SGDState()
    empty.load_state_dict(plain.state_dict())
    assert empty.velocities is None and empty.step == 12


def test_training_resumed_from_a_checkpoint_matches_an_unbroken_run(tmp_path):
    X, y = separable_problem(n=150)
    settings = {"lmbda": 0.1, "momentum": 0.9, "schedule": "cosine", "transform": jitter}
    unbroken = Network([12, 6, 3], cost="cross-entropy", activation="relu", seed=0)
    history = unbroken.SGD((X, y), 3, 10, 0.1, state=SGDState(4), **settings)

    first = Network([12, 6, 3], cost="cross-entropy", activation="relu", seed=0)
    state = SGDState(4)
    # The cosine rate of epoch 0 is eta whatever the run's length, so one epoch of a 1-epoch run
    # is the first epoch of the 3-epoch run.
    first.SGD((X, y), 1, 10, 0.1, state=state, **settings)
    path = tmp_path / "checkpoint.npz"
    np.savez(path, **first.parameters(), **state.state_dict())

    resumed, resumed_state = Network([12, 6, 3], cost="cross-entropy", activation="relu", seed=99), SGDState()
    with np.load(path, allow_pickle=False) as checkpoint:
        resumed.set_parameters(checkpoint)
        resumed_state.load_state_dict(checkpoint)
    rest = resumed.SGD((X, y), 3, 10, 0.1, state=resumed_state, **settings)
    assert [r.epoch for r in rest] == [2, 3]
    assert [(r.eta, r.cost) for r in rest] == [(r.eta, r.cost) for r in history[1:]]
    for a, b in zip(unbroken.weights + unbroken.biases, resumed.weights + resumed.biases):
        np.testing.assert_array_equal(a, b)


def test_sgd_state_of_another_network_is_refused():
    X, y = separable_problem(n=40)
    state = SGDState(0)
    Network([12, 6, 3], seed=0).SGD((X, y), 1, 10, 0.1, momentum=0.5, state=state)
    with pytest.raises(ValueError, match="velocities do not fit"):
        Network([12, 5, 3], seed=0).SGD((X, y), 2, 10, 0.1, momentum=0.5, state=state)


def test_sgd_state_with_an_unknown_generator_is_refused():
    arrays = SGDState(0).state_dict()
    meta = json.loads(str(arrays["state"]))
    meta["rng"]["bit_generator"] = "os.system"
    with pytest.raises(ValueError, match="unknown bit generator"):
        SGDState().load_state_dict({"state": np.array(json.dumps(meta))})


def test_test_data_is_the_old_name_of_validation_data():
    X, y = separable_problem(n=60)
    val = (X[:, :20], y[:20])
    [record] = Network([12, 4, 3], seed=0).SGD((X, y), 1, 10, 1.0, test_data=val)
    [same] = Network([12, 4, 3], seed=0).SGD((X, y), 1, 10, 1.0, val)
    assert record.validation_accuracy is not None
    assert record.validation_accuracy == same.validation_accuracy and record.cost == same.cost
    with pytest.raises(ValueError, match="not both"):
        Network([12, 4, 3], seed=0).SGD((X, y), 1, 10, 1.0, val, test_data=val)


# -- saving and loading ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "cost", "activation", "dtype"),
    [
        ([784, 15, 10], "quadratic", "sigmoid", "float32"),
        ([784, 64, 32, 10], "cross-entropy", "relu", "float64"),
    ],
)
def test_save_then_load_gives_identical_network(tmp_path, sizes, cost, activation, dtype):
    net = Network(sizes, cost=cost, activation=activation, dtype=dtype, seed=3)
    net.metadata = {"test_accuracy": 0.9, "training": {"epochs": 3}}
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = Network.load(path)
    assert (loaded.sizes, loaded.cost, loaded.activation, loaded.dtype) == (sizes, cost, activation, net.dtype)
    for a, b in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).random((784, 4))
    np.testing.assert_array_equal(net.feedforward(x), loaded.feedforward(x))
    assert loaded.metadata["test_accuracy"] == 0.9
    assert loaded.metadata["training"] == {"epochs": 3}
    assert "saved" in loaded.metadata
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def write_npz(path, metadata=None, **arrays):
    if metadata is not None:
        arrays["metadata"] = np.array(json.dumps(metadata))
    np.savez(path, **arrays)


def good_metadata(**changes):
    return {
        "format": "digits-network",
        "format_version": 1,
        "sizes": [4, 3, 2],
        "cost": "quadratic",
        "activation": "sigmoid",
        "dtype": "float32",
        **changes,
    }


def good_arrays(**changes):
    arrays = {
        "w0": np.zeros((3, 4), np.float32),
        "b0": np.zeros((3, 1), np.float32),
        "w1": np.zeros((2, 3), np.float32),
        "b1": np.zeros((2, 1), np.float32),
    }
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def test_good_handmade_file_loads(tmp_path):
    path = tmp_path / "ok.npz"
    write_npz(path, good_metadata(), **good_arrays())
    assert Network.load(path).sizes == [4, 3, 2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "truncated or not an .npz"),
        (lambda p: p.write_text("hello, I am a text file"), "truncated or not an .npz"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p), "single .npy array"),
        (lambda p: write_npz(p, None, **good_arrays()), "no 'metadata' entry"),
        (lambda p: write_npz(p, {"format": "something-else"}, **good_arrays()), "does not describe a digits network"),
        (
            lambda p: write_npz(p, {"format": CHECKPOINT_FORMAT}, **good_arrays()),
            "is a training checkpoint, not a model: finish the run with python -m model.train .* --resume",
        ),
        (lambda p: write_npz(p, good_metadata(format_version=99), **good_arrays()), "format version 99"),
        (lambda p: write_npz(p, good_metadata(sizes=[4, "x", 2]), **good_arrays()), "invalid layer sizes"),
        (lambda p: write_npz(p, good_metadata(cost="hinge"), **good_arrays()), "inconsistent metadata"),
        (lambda p: write_npz(p, good_metadata(), **good_arrays(w1=None)), r"missing \['w1'\]"),
        (lambda p: write_npz(p, good_metadata(), **good_arrays(w2=np.zeros(1))), r"unexpected \['w2'\]"),
        (
            lambda p: write_npz(p, good_metadata(), **good_arrays(w0=np.zeros((4, 3), np.float32))),
            "layer 0 has weights",
        ),
        (lambda p: write_npz(p, good_metadata(), **good_arrays(b1=np.zeros((2,), np.float32))), "layer 1 has weights"),
        (lambda p: write_npz(p, good_metadata(), **good_arrays(w1=np.full((2, 3), np.nan))), "NaN or infinite"),
        (lambda p: write_npz(p, good_metadata(), **good_arrays(w1=np.zeros((2, 3), "U1"))), "not floating point"),
    ],
)
def test_bad_weights_files_give_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(WeightsError, match=message) as info:
        Network.load(path)
    assert str(path) in str(info.value)


def test_truncated_weights_file(tmp_path):
    path = tmp_path / "net.npz"
    Network([784, 15, 10], seed=0).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated"):
        Network.load(path)


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "pickle.npz"
    buf = io.BytesIO()
    np.savez(
        buf, metadata=np.array(json.dumps(good_metadata())), **good_arrays(w0=np.array([object()] * 12).reshape(3, 4))
    )
    path.write_bytes(buf.getvalue())
    assert zipfile.is_zipfile(path)
    with pytest.raises(WeightsError, match=r"truncated or not an \.npz"):
        Network.load(path)


def test_failed_save_leaves_existing_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    Network([4, 3, 2], seed=0).save(path)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        Network([4, 3, 2], seed=1).save(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
