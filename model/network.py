"""A fully connected feedforward network, trained by mini-batch stochastic gradient descent.

In the spirit of the classic ``network.py`` and ``network2.py``: the same names
(``feedforward``, ``SGD``, ``update_mini_batch``, ``backprop``, ``cost_derivative``,
``evaluate``, ``sigmoid``, ``sigmoid_prime``), cost classes with ``fn`` and ``delta``, and the
same column convention: an input batch ``a`` has shape ``(sizes[0], n)``, one column per
example. Unlike the classic code, a whole mini-batch goes through ``backprop`` as matrix
products, and the network can also use cross-entropy with a softmax output, ReLU hidden layers,
L2 weight decay, momentum, scaled initialisation and a learning-rate schedule.

What training carries from step to step besides the weights (momentum velocities, step and
epoch counts, the generator that shuffles and distorts the data) is an ``SGDState``, which a
checkpoint can save as arrays and JSON. A saved network (``Network.save``) carries its own
architecture, so ``Network.load`` needs nothing else.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.fileio import UnreadableArchive, atomic_write, read_npz

ACTIVATIONS = ("sigmoid", "relu")
INITS = ("scaled", "classic")
SCHEDULES = ("constant", "cosine", "step")
DTYPES = ("float32", "float64")

FORMAT = "digits-network"
FORMAT_VERSION = 1
# A training checkpoint (model/checkpoint.py) is an .npz too; Network.load tells it apart by this.
CHECKPOINT_FORMAT = "digits-checkpoint"

# The shipped network: what the command-line tools read when given no --weights.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "digits.npz"


# ---------------------------------------------------------------------------------------------
# Small pure helpers
# ---------------------------------------------------------------------------------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-z), elementwise."""
    # Written with tanh because 1 / (1 + exp(-z)) overflows for large negative z.
    return 0.5 * np.tanh(0.5 * z) + 0.5


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    """Derivative of the sigmoid function, elementwise."""
    s = sigmoid(z)
    return s * (1 - s)


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0), elementwise."""
    return np.maximum(z, 0)


def relu_prime(z: np.ndarray) -> np.ndarray:
    """Derivative of ReLU (taken as 0 at 0), elementwise, in z's dtype."""
    return (z > 0).astype(z.dtype)


def softmax(z: np.ndarray) -> np.ndarray:
    """Column-wise softmax of z, shape (k, n) -> (k, n); each column sums to 1."""
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def one_hot(labels: np.ndarray, k: int, dtype: Any = np.float32) -> np.ndarray:
    """Integer labels of shape (n,) -> one-hot columns of shape (k, n)."""
    labels = np.asarray(labels)
    y = np.zeros((k, labels.size), dtype=dtype)
    y[labels, np.arange(labels.size)] = 1
    return y


# Backprop takes each hidden layer's derivative from its output a = f(z): sigmoid'(z) = a(1 - a),
# relu'(z) = [a > 0]. That saves recomputing sigmoid(z) as the classic sigmoid_prime(z) does.
def _sigmoid_prime_of_output(a: np.ndarray) -> np.ndarray:
    return a * (1 - a)


def _relu_prime_of_output(a: np.ndarray) -> np.ndarray:
    return a > 0  # multiplies as 0/1


# Each hidden activation with its derivative written in terms of the activation's output.
_HIDDEN = {"sigmoid": (sigmoid, _sigmoid_prime_of_output), "relu": (relu, _relu_prime_of_output)}


def learning_rate(schedule: str, eta: float, epoch: int, epochs: int) -> float:
    """The learning rate for ``epoch`` (0-based) of ``epochs`` under a named schedule.

    ``constant``: eta throughout. ``cosine``: eta * (1 + cos(pi * epoch / epochs)) / 2, from eta
    down towards 0. ``step``: eta, divided by 10 after half and again after three quarters of
    the epochs.
    """
    if schedule == "constant":
        return eta
    if schedule == "cosine":
        return eta * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    if schedule == "step":
        return eta * (0.1 ** ((epoch >= epochs // 2) + (epoch >= 3 * epochs // 4)))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")


# ---------------------------------------------------------------------------------------------
# Costs, each with the output activation it goes with
# ---------------------------------------------------------------------------------------------


class Cost:
    """A cost function with the output activation it goes with, as in network2.py: ``fn`` is the
    cost summed over the columns of output ``a`` and one-hot targets ``y`` (both (k, n)), ``delta``
    its derivative dC/dz by the output layer's weighted input, (k, n)."""

    name: str
    # The output layer's activation and the class probabilities, from its weighted input z (k, n).
    output: Callable[[np.ndarray], np.ndarray]
    probabilities: Callable[[np.ndarray], np.ndarray]
    fn: Callable[[np.ndarray, np.ndarray], float]
    delta: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _normalised_sigmoid(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) / sum(sigmoid(z)) per column, (k, n) -> (k, n), computed from
    log sigmoid(z) = -log(1 + e^-z): when every output underflows to 0 (all z below about -18 in
    float32) the plain quotient would be 0 / 0."""
    return softmax(-np.logaddexp(0, -z))


class QuadraticCost(Cost):
    """C = ||a - y||^2 / 2 per example, with a sigmoid output layer (the classic network.py);
    its probabilities are the outputs normalised by their column sum."""

    name = "quadratic"
    output = staticmethod(sigmoid)
    probabilities = staticmethod(_normalised_sigmoid)

    @staticmethod
    def fn(a: np.ndarray, y: np.ndarray) -> float:
        return 0.5 * float(np.sum((a - y) ** 2))

    @staticmethod
    def delta(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        # dC/da = a - y times sigmoid'(z), taken from the output as a(1 - a).
        return (a - y) * a * (1 - a)


class CrossEntropyCost(Cost):
    """C = -sum_j y_j ln a_j per example, with a softmax output layer, which gives the probabilities."""

    name = "cross-entropy"
    output = staticmethod(softmax)
    probabilities = staticmethod(softmax)

    @staticmethod
    def fn(a: np.ndarray, y: np.ndarray) -> float:
        # Clipping keeps log finite when a float32 softmax output underflows to 0.
        return -float(np.sum(y * np.log(np.maximum(a, np.finfo(a.dtype).tiny))))

    @staticmethod
    def delta(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        # Through the softmax, dC/dz simplifies to a - y.
        return a - y


# By the names the command line and the weights files use.
COSTS: dict[str, type[Cost]] = {cost.name: cost for cost in (QuadraticCost, CrossEntropyCost)}


# ---------------------------------------------------------------------------------------------
# Training state
# ---------------------------------------------------------------------------------------------


@dataclass
class EpochRecord:
    """What ``SGD`` measured in one epoch."""

    epoch: int  # 1-based
    eta: float
    cost: float  # mean training cost over the epoch's mini-batches, before each update
    train_accuracy: float  # fraction of the epoch's training examples classified right
    seconds: float
    validation_accuracy: float | None = None  # on ``validation_data``, when given

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SGDState:
    """What mini-batch SGD carries from one step to the next besides the weights.

    ``rng`` shuffles the training data and draws the distortions of each epoch, ``epoch`` and
    ``step`` count the epochs and mini-batches done, and ``velocities`` (``(biases, weights)``
    lists shaped like the network's, or None before the first step with momentum) hold the
    momentum. ``state_dict()`` gives all of it as arrays plus one JSON entry, for ``np.savez``;
    ``load_state_dict`` restores it exactly. The gradient buffers kept between steps are
    scratch space and are not part of it.
    """

    def __init__(self, rng: np.random.Generator | int | None = None) -> None:
        self.rng = np.random.default_rng(rng)  # a Generator passed in is used, not copied
        self.epoch = 0
        self.step = 0
        self.velocities: tuple[list[np.ndarray], list[np.ndarray]] | None = None
        self._buffers: list[np.ndarray] | None = None

    def velocities_for(self, net: Network) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The momentum velocities, zeros shaped like ``net``'s biases and weights at first."""
        if self.velocities is None:
            self.velocities = ([np.zeros_like(b) for b in net.biases], [np.zeros_like(w) for w in net.weights])
        return self.velocities

    def gradient_buffers(self, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Arrays shaped like ``weights`` for the weight gradients, the same ones every step."""
        # At mini-batch 10, allocating the gradients each step costs as much as the arithmetic.
        if self._buffers is None:
            self._buffers = [np.empty_like(w) for w in weights]
        return self._buffers

    def check(self, net: Network) -> None:
        """Raise ValueError unless the velocities fit ``net``; drop buffers that do not.

        ``SGD`` calls this once, so that each step need not.
        """
        if self.velocities is not None and [v.shape for v in self.velocities[1]] != [w.shape for w in net.weights]:
            raise ValueError(f"the SGD state's velocities do not fit a network of sizes {net.sizes}")
        if self._buffers is not None and [(b.shape, b.dtype) for b in self._buffers] != [
            (w.shape, w.dtype) for w in net.weights
        ]:
            self._buffers = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """The state as arrays for ``np.savez``: ``velocity_b0..``, ``velocity_w0..`` (with
        momentum) and ``state``, a JSON string of the counts and the generator's state."""
        meta = {"epoch": self.epoch, "step": self.step, "rng": self.rng.bit_generator.state}
        arrays = {"state": np.array(json.dumps(meta))}
        if self.velocities is not None:
            for kind, velocities in zip("bw", self.velocities):
                arrays.update({f"velocity_{kind}{i}": v.copy() for i, v in enumerate(velocities)})
        return arrays

    def load_state_dict(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` gave (e.g. the arrays of ``np.load(path, allow_pickle=False)``)."""
        meta = json.loads(str(arrays["state"]))
        bit_generator = meta["rng"]["bit_generator"]
        if bit_generator not in _BIT_GENERATORS:
            raise ValueError(f"unknown bit generator {bit_generator!r} in the SGD state")
        generator = getattr(np.random, bit_generator)()
        generator.state = meta["rng"]
        self.rng = np.random.Generator(generator)
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        layers = sum(1 for name in arrays if name.startswith("velocity_w"))
        self.velocities = None
        if layers:
            self.velocities = (
                [np.array(arrays[f"velocity_b{i}"]) for i in range(layers)],
                [np.array(arrays[f"velocity_w{i}"]) for i in range(layers)],
            )
        self._buffers = None


# Those whose state is plain numbers, so that it goes into JSON as it is.
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64")


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


class Network:
    """A fully connected network of layer sizes ``sizes``, e.g. ``[784, 15, 10]``.

    ``weights[l]`` has shape ``(sizes[l+1], sizes[l])`` and ``biases[l]`` shape
    ``(sizes[l+1], 1)``. Hidden layers use ``activation``; the output layer is the one the cost
    goes with: a sigmoid for the quadratic cost, a softmax for the cross-entropy cost. ``seed``
    (an int, or a Generator to draw from) fixes the initial weights.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        cost: str = "quadratic",
        activation: str = "sigmoid",
        init: str = "scaled",
        dtype: str = "float32",
        seed: int | np.random.Generator | None = 0,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must list at least two positive layer sizes, got {sizes}")
        _check_choice("cost", cost, COSTS)
        _check_choice("activation", activation, ACTIVATIONS)
        _check_choice("init", init, INITS)
        _check_choice("dtype", dtype, DTYPES)
        self.sizes = sizes
        self.num_layers = len(sizes)
        self.cost_function: type[Cost] = COSTS[cost]
        self.activation = activation
        self.init = init
        self.dtype = np.dtype(dtype)
        self.seed = seed if isinstance(seed, int) else None
        self._hidden, self._hidden_prime = _HIDDEN[activation]
        # What the weights were trained with and how well they did; saved with them.
        self.metadata: dict[str, Any] = {}
        self.biases, self.weights = self._initial_parameters(np.random.default_rng(seed))

    @property
    def cost(self) -> str:
        """The cost's name, as the command line and the weights file give it."""
        return self.cost_function.name

    def _initial_parameters(self, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Classic: every weight and bias from N(0, 1). Scaled: weights from N(0, g / n_in)
        (g = 2 for ReLU, He et al.; g = 1 for sigmoid), biases 0 (ReLU) or N(0, 1) (sigmoid),
        which keeps the hidden units out of saturation at the start."""
        biases, weights = [], []
        for n_in, n_out in itertools.pairwise(self.sizes):
            std = 1.0
            if self.init == "scaled":
                std = math.sqrt((2.0 if self.activation == "relu" else 1.0) / n_in)
            w = rng.standard_normal((n_out, n_in)) * std
            if self.init == "scaled" and self.activation == "relu":
                b = np.zeros((n_out, 1))
            else:
                b = rng.standard_normal((n_out, 1))
            weights.append(w.astype(self.dtype))
            biases.append(b.astype(self.dtype))
        return biases, weights

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the weights and biases, named as in the weights file: ``w0``.., ``b0``.."""
        params = {f"w{i}": w.copy() for i, w in enumerate(self.weights)}
        params.update({f"b{i}": b.copy() for i, b in enumerate(self.biases)})
        return params

    def set_parameters(self, params: Mapping[str, np.ndarray]) -> None:
        """Replace the weights and biases by copies of ``params`` (as ``parameters()`` gives
        them), in the network's dtype; raises ValueError for a missing or misshapen array."""
        weights, biases = [], []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(self.sizes)):
            w, b = np.asarray(params[f"w{i}"]), np.asarray(params[f"b{i}"])
            if w.shape != (n_out, n_in) or b.shape != (n_out, 1):
                raise ValueError(
                    f"layer {i} needs weights {(n_out, n_in)} and biases {(n_out, 1)}, got {w.shape}, {b.shape}"
                )
            weights.append(w.astype(self.dtype))
            biases.append(b.astype(self.dtype))
        self.weights, self.biases = weights, biases

    @property
    def parameter_count(self) -> int:
        return int(sum(w.size + b.size for w, b in zip(self.weights, self.biases)))

    # -- the forward pass and what reads it ---------------------------------------------------

    def forward(self, a: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(zs, activations)`` for input columns ``a`` of shape (sizes[0], n), already in the
        network's dtype: ``zs[l]``, shape (sizes[l+1], n), is layer l+1's weighted input and
        ``activations[l]`` layer l's output, ``activations[0]`` being ``a`` itself."""
        zs, activations = [], [a]
        for b, w in zip(self.biases[:-1], self.weights[:-1]):
            zs.append(w @ activations[-1] + b)
            activations.append(self._hidden(zs[-1]))
        zs.append(self.weights[-1] @ activations[-1] + self.biases[-1])
        activations.append(self.cost_function.output(zs[-1]))
        return zs, activations

    def feedforward(self, a: np.ndarray) -> np.ndarray:
        """Output of the network for input columns ``a`` of shape (sizes[0], n) -> (sizes[-1], n)."""
        return self.forward(self._as_input(a))[1][-1]

    def activations(self, a: np.ndarray) -> list[np.ndarray]:
        """Activations of every layer after the input for input columns ``a`` of shape
        (sizes[0], n): a list of arrays of shape (sizes[l], n), l = 1 .. num_layers - 1; the
        last is ``feedforward(a)``."""
        return self.forward(self._as_input(a))[1][1:]

    def predict_proba(self, a: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (sizes[-1], n), each column summing to 1.

        The softmax output is already a distribution; a sigmoid output layer is normalised
        by its column sum.
        """
        zs, _ = self.forward(self._as_input(a))
        return self.cost_function.probabilities(zs[-1])

    def predict(self, a: np.ndarray) -> np.ndarray:
        """Predicted labels, shape (n,), for input columns ``a`` of shape (sizes[0], n)."""
        return np.argmax(self.feedforward(a), axis=0)

    def evaluate(self, test_data: tuple[np.ndarray, np.ndarray], batch_size: int = 10_000) -> int:
        """Number of examples in ``test_data = (X, y)`` classified correctly.

        X has shape (sizes[0], n) and y holds n integer labels; the output with the highest
        activation is the network's answer.
        """
        X, y = test_data
        y = np.asarray(y)
        correct = 0
        for k in range(0, y.size, batch_size):
            correct += int(np.sum(self.predict(X[:, k : k + batch_size]) == y[k : k + batch_size]))
        return correct

    def total_cost(self, x: np.ndarray, y: np.ndarray, lmbda: float = 0.0, n: int | None = None) -> float:
        """Mean cost over the columns of ``x`` (targets ``y`` one-hot) plus the L2 term
        ``lmbda / (2 n) * sum(w**2)``; ``n`` defaults to the number of columns.

        ``update_mini_batch`` takes a step down the gradient of exactly this function.
        """
        x = self._as_input(x)
        m = x.shape[1]
        n = m if n is None else n
        cost = self.cost_function.fn(self.feedforward(x), np.asarray(y, dtype=self.dtype)) / m
        if lmbda:
            cost += 0.5 * lmbda / n * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in self.weights)
        return cost

    def _as_input(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=self.dtype)
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        if a.ndim != 2 or a.shape[0] != self.sizes[0]:
            raise ValueError(f"input must have shape ({self.sizes[0]}, n), got {a.shape}")
        return a

    # -- training -------------------------------------------------------------------------------

    def SGD(
        self,
        training_data: tuple[np.ndarray, np.ndarray],
        epochs: int,
        mini_batch_size: int,
        eta: float,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        lmbda: float = 0.0,
        momentum: float = 0.0,
        schedule: str = "constant",
        transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        state: SGDState | None = None,
        test_data: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[EpochRecord]:
        """Train with mini-batch stochastic gradient descent; return one record per epoch.

        ``training_data = (X, y)``: X of shape (sizes[0], n), pixel values in [0, 1], and n
        integer labels. Each epoch shuffles the examples (with ``state.rng``), optionally
        passes them through ``transform(X, rng)`` (data augmentation, same shape out), and
        applies ``update_mini_batch`` to each run of ``mini_batch_size`` columns; with
        ``validation_data = (X, y)`` each record has the accuracy on it. ``lmbda`` is the L2
        weight-decay strength (scaled by 1/n as in the classic ``network2.py``), ``momentum``
        the momentum coefficient (0 is plain SGD) and ``schedule`` one of ``constant``,
        ``cosine``, ``step``. ``epochs`` is the length of the whole run: training goes on from
        ``state.epoch``, so a state restored from a checkpoint finishes the same schedule.
        Without ``state``, a new one seeded with the network's seed. ``on_batch(done, n)`` is
        called after every mini-batch and ``on_epoch(record)`` after every epoch, so a caller
        can show progress; nothing is printed here. ``test_data`` is the old name of
        ``validation_data``.
        """
        X, y = training_data
        y = np.asarray(y)
        if X.shape != (self.sizes[0], y.size):
            raise ValueError(f"training X must have shape ({self.sizes[0]}, {y.size}), got {X.shape}")
        if mini_batch_size < 1 or epochs < 0:
            raise ValueError("mini_batch_size must be positive and epochs not negative")
        if test_data is not None:
            if validation_data is not None:
                raise ValueError("give validation_data or its old name test_data, not both")
            validation_data = test_data
        state = state if state is not None else SGDState(self.seed)
        state.check(self)
        history: list[EpochRecord] = []
        while state.epoch < epochs:
            rate = learning_rate(schedule, eta, state.epoch, epochs)
            record = self._sgd_epoch(X, y, mini_batch_size, rate, lmbda, momentum, transform, on_batch, state)
            if validation_data is not None:
                record.validation_accuracy = self.evaluate(validation_data) / len(validation_data[1])
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
        return history

    def _sgd_epoch(
        self,
        X: np.ndarray,
        y: np.ndarray,
        mini_batch_size: int,
        eta: float,
        lmbda: float,
        momentum: float,
        transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None,
        on_batch: Callable[[int, int], None] | None,
        state: SGDState,
    ) -> EpochRecord:
        """One epoch of ``SGD`` at learning rate ``eta``; its record, without validation."""
        start = time.perf_counter()
        n = y.size
        order = state.rng.permutation(n)
        X_epoch = X[:, order].astype(self.dtype, copy=False)
        if transform is not None:
            X_epoch = transform(X_epoch, state.rng).astype(self.dtype, copy=False)
        Y_epoch = one_hot(y[order], self.sizes[-1], self.dtype)
        # The outputs each mini-batch saw before its step, for the epoch's cost and accuracy.
        outputs = np.empty((self.sizes[-1], n), dtype=self.dtype)
        for k in range(0, n, mini_batch_size):
            batch = slice(k, k + mini_batch_size)
            outputs[:, batch] = self.update_mini_batch(
                (X_epoch[:, batch], Y_epoch[:, batch]), eta, lmbda=lmbda, n=n, momentum=momentum, state=state
            )
            if on_batch is not None:
                on_batch(min(k + mini_batch_size, n), n)
        state.epoch += 1
        return EpochRecord(
            epoch=state.epoch,
            eta=eta,
            cost=self.cost_function.fn(outputs, Y_epoch) / n,
            train_accuracy=float(np.mean(np.argmax(outputs, axis=0) == y[order])),
            seconds=time.perf_counter() - start,
        )

    def update_mini_batch(
        self,
        mini_batch: tuple[np.ndarray, np.ndarray],
        eta: float,
        *,
        lmbda: float = 0.0,
        n: int = 1,
        momentum: float = 0.0,
        state: SGDState | None = None,
    ) -> np.ndarray:
        """One gradient-descent step on ``mini_batch = (x, y)``: x of shape (sizes[0], m) in the
        network's dtype, y one-hot of shape (sizes[-1], m). The step follows the gradient of
        ``total_cost`` with L2 strength ``lmbda`` over a training set of ``n`` examples.

        ``state`` carries the momentum velocities (momentum needs one) and the gradient
        buffers from step to step, and counts the step. Returns the network's output for x
        before the step, shape (sizes[-1], m), so that the caller can follow the training cost
        for free.
        """
        x, y = mini_batch
        if momentum and state is None:
            raise ValueError("momentum needs an SGDState to carry the velocities from step to step")
        buffers = None if state is None else state.gradient_buffers(self.weights)
        activations = self.forward(x)[1]
        # The gradients come already multiplied by the step size eta/m, which saves a pass over
        # every weight matrix.
        step_b, step_w = self._backward(activations, y, eta / x.shape[1], buffers)
        velocities = state.velocities_for(self) if momentum else None
        shrink = eta * lmbda / n  # L2 weight decay: the step's share of lmbda/n * w
        for i, (w, b, sw, sb) in enumerate(zip(self.weights, self.biases, step_w, step_b)):
            if shrink:
                sw += shrink * w
            if velocities is None:
                w -= sw
                b -= sb
            else:
                vb, vw = velocities[0][i], velocities[1][i]
                vw *= momentum
                vw -= sw
                vb *= momentum
                vb -= sb
                w += vw
                b += vb
        if state is not None:
            state.step += 1
        return activations[-1]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradient of the unregularised cost summed over the batch, as ``(nabla_b, nabla_w)``,
        lists shaped like ``biases`` and ``weights``.

        x: inputs of shape (sizes[0], m); y: one-hot targets of shape (sizes[-1], m). The m
        examples travel together as the columns of each matrix, so the per-example sums of
        the classic code become matrix products.
        """
        activations = self.forward(self._as_input(x))[1]
        return self._backward(activations, np.asarray(y, dtype=self.dtype))

    def _backward(
        self, activations: list[np.ndarray], y: np.ndarray, scale: float = 1.0, out: list[np.ndarray] | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``backprop``'s backward pass from ``forward``'s activations, with every gradient
        multiplied by ``scale`` (it is linear in the output delta, so one multiplication there
        does it); the weight gradients go into ``out`` when given."""
        out = out or [None] * len(self.weights)
        # delta is dC/dz for the layer at hand, one column per example.
        delta = self.cost_function.delta(activations[-1], y)
        if scale != 1.0:
            delta *= scale
        nabla_b = [np.empty(0)] * len(self.biases)
        nabla_w = [np.empty(0)] * len(self.weights)
        nabla_b[-1] = delta.sum(axis=1, keepdims=True)
        nabla_w[-1] = np.matmul(delta, activations[-2].T, out=out[-1])
        for layer in range(2, self.num_layers):
            delta = (self.weights[-layer + 1].T @ delta) * self._hidden_prime(activations[-layer])
            nabla_b[-layer] = delta.sum(axis=1, keepdims=True)
            nabla_w[-layer] = np.matmul(delta, activations[-layer - 1].T, out=out[-layer])
        return nabla_b, nabla_w

    def cost_derivative(self, output_activations: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Vector of partial derivatives dC_x/da of the quadratic cost for the output
        activations, ``a - y``, as in the classic code (``QuadraticCost.delta`` is this times
        sigmoid'(z)); for a softmax output with cross-entropy the same expression is dC_x/dz."""
        return output_activations - y

    # -- weights file -----------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the network to ``path`` as an ``.npz``: ``w0..``, ``b0..`` and a JSON
        ``metadata`` entry (format, version, sizes, cost, activation, dtype, ``self.metadata``).

        The file appears whole or not at all: it is written beside the target and renamed.
        """
        meta = {
            **{k: v for k, v in self.metadata.items() if k not in _RESERVED},
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "sizes": self.sizes,
            "cost": self.cost,
            "activation": self.activation,
            "dtype": self.dtype.name,
            "saved": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        arrays = self.parameters()
        arrays["metadata"] = np.array(json.dumps(meta))
        with atomic_write(path) as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a network written by ``save``.

        Raises ``WeightsError`` naming the file and the problem when it is missing, truncated,
        not a digits weights file, or when its arrays disagree with its metadata.
        """
        path = Path(path)
        try:
            arrays = read_npz(path)
        except UnreadableArchive as e:
            problem = e.problem.replace("an .npz archive", "a digits weights file")
            raise WeightsError(path, problem) from None
        if "metadata" not in arrays:
            raise WeightsError(path, "has no 'metadata' entry: not a digits weights file")
        try:
            meta = json.loads(str(arrays.pop("metadata")))
        except (json.JSONDecodeError, TypeError) as e:
            raise WeightsError(path, f"has unreadable metadata ({e})") from None
        if isinstance(meta, dict) and meta.get("format") == CHECKPOINT_FORMAT:
            raise WeightsError(
                path,
                "is a training checkpoint, not a model: finish the run with python -m model.train ... "
                f"--resume {path}, which writes the weights",
            )
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise WeightsError(path, "metadata does not describe a digits network")
        if meta.get("format_version") != FORMAT_VERSION:
            raise WeightsError(
                path, f"has format version {meta.get('format_version')!r}; this code reads {FORMAT_VERSION}"
            )
        sizes = meta.get("sizes")
        if not (isinstance(sizes, list) and len(sizes) >= 2 and all(isinstance(s, int) and s > 0 for s in sizes)):
            raise WeightsError(path, f"has invalid layer sizes {sizes!r}")
        try:
            net = cls(
                sizes,
                cost=meta.get("cost"),
                activation=meta.get("activation"),
                dtype=meta.get("dtype", "float32"),
                seed=0,
            )
        except ValueError as e:
            raise WeightsError(path, f"has inconsistent metadata: {e}") from None
        expected = {f"w{i}" for i in range(len(sizes) - 1)} | {f"b{i}" for i in range(len(sizes) - 1)}
        if set(arrays) != expected:
            missing = sorted(expected - set(arrays))
            extra = sorted(set(arrays) - expected)
            raise WeightsError(path, f"arrays do not match sizes {sizes}: missing {missing}, unexpected {extra}")
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            w, b = arrays[f"w{i}"], arrays[f"b{i}"]
            if w.shape != (n_out, n_in) or b.shape != (n_out, 1):
                raise WeightsError(
                    path,
                    f"layer {i} has weights {w.shape} and biases {b.shape}; sizes {sizes} "
                    f"need {(n_out, n_in)} and {(n_out, 1)}",
                )
            if w.dtype.kind != "f" or b.dtype.kind != "f":
                raise WeightsError(path, f"layer {i} arrays are {w.dtype}/{b.dtype}, not floating point")
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise WeightsError(path, f"layer {i} holds NaN or infinite values")
            net.weights[i] = w.astype(net.dtype)
            net.biases[i] = b.astype(net.dtype)
        net.metadata = {k: v for k, v in meta.items() if k not in _RESERVED}
        return net


_RESERVED = {"format", "format_version", "sizes", "cost", "activation", "dtype"}


class WeightsError(ValueError):
    """A weights file that cannot be loaded; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    # A weights file's metadata may hold any JSON value here, a list (unhashable) included.
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
