"""Training speed: the vectorised mini-batch step of ``model.network`` against the classic
per-example loop of ``network.py``, timed side by side in one run on real MNIST.

    python benchmarks/train_speed.py [--data DIR] [--examples 10000] [--repeats 1] [--seed 0] [--json PATH]

For each configuration both implementations start from the same initial weights (copied from a
``Network`` built with the seed) and train one epoch on identical mini-batches in the same
order; the epoch is timed and reported as examples per second. Afterwards their weights must
agree (``np.allclose``), which guards against the loop measuring different work. A full
``Network.SGD`` epoch (its own shuffle, plus the cost and accuracy bookkeeping) is timed too,
for reference, and the same epoch with the trainer's check after every mini-batch
(``model.train.DivergenceGuard``), side by side with it, for that check's cost. Exits 1 if the
weights disagree, 2 if the data cannot be read.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# Run as ``python benchmarks/train_speed.py`` the script's own folder is on sys.path, not the
# repository root, so ``model`` would not be importable.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model import cli, mnist  # noqa: E402
from model.data import DataError, load, to_columns  # noqa: E402
from model.fileio import atomic_write  # noqa: E402
from model.network import Network, SGDState, one_hot, sigmoid, sigmoid_prime  # noqa: E402
from model.shape import CLASSES, PIXELS  # noqa: E402
from model.train import DivergenceGuard  # noqa: E402

ETA = 3.0
FLOOR = 6.0  # the vectorised step must be at least this much faster on the first configuration


@dataclass(frozen=True)
class Config:
    """One row of the table: architecture, dtype, mini-batch size and the weights tolerance."""

    sizes: tuple[int, ...]
    dtype: str
    batch: int
    rtol: float  # for the weights guard; see ``compare``

    @property
    def name(self) -> str:
        return "-".join(map(str, self.sizes))


# The two implementations sum the per-example gradients in different orders, and SGD at eta 3
# amplifies that rounding from step to step. At the default 10,000 examples float64 ends within
# ~1e-13 and float32 within ~2e-3 (worst of 16 shuffles, batch 10); over 60,000 examples float32
# at batch 10 can drift by 0.3, which fails the guard without any bug (float64: ~3e-7, passes).
CONFIGS = (
    Config((PIXELS, 30, CLASSES), "float64", 10, rtol=1e-5),
    Config((PIXELS, 30, CLASSES), "float32", 10, rtol=1e-2),
    Config((PIXELS, 100, CLASSES), "float64", 128, rtol=1e-5),
    Config((PIXELS, 100, CLASSES), "float32", 128, rtol=1e-2),
)


@dataclass
class Result:
    """Per-repeat timings (seconds per epoch) and weight differences for one configuration."""

    config: Config
    vectorised: list[float] = field(default_factory=list)
    loop: list[float] = field(default_factory=list)
    sgd: list[float] = field(default_factory=list)
    guarded: list[float] = field(default_factory=list)  # SGD epochs with the trainer's per-step check
    max_abs_diff: list[float] = field(default_factory=list)
    match: list[bool] = field(default_factory=list)


class LoopNetwork:
    """The classic ``network.py`` training step: each mini-batch is a Python list of
    ``(x, y)`` column vectors of shapes (784, 1) and (10, 1), back-propagated one example at a
    time, the gradients summed in Python lists.

    Sigmoid output with the quadratic cost, as in the classic code. It uses the project's own
    ``sigmoid``/``sigmoid_prime`` so that only the batching differs from the vectorised side.
    """

    def __init__(self, biases: Sequence[np.ndarray], weights: Sequence[np.ndarray]) -> None:
        self.num_layers = len(weights) + 1
        self.biases = [b.copy() for b in biases]
        self.weights = [w.copy() for w in weights]

    def update_mini_batch(self, mini_batch: list[tuple[np.ndarray, np.ndarray]], eta: float) -> None:
        """One gradient-descent step on the examples of ``mini_batch``."""
        # dtype kept explicit: classic np.zeros would be float64 and upcast a float32 network.
        nabla_b = [np.zeros(b.shape, b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, w.dtype) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradient of the quadratic cost for one example, as ``(nabla_b, nabla_w)``."""
        nabla_b = [np.zeros(b.shape, b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, w.dtype) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            sp = sigmoid_prime(zs[-layer])
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sp
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return nabla_b, nabla_w

    def cost_derivative(self, output_activations: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dC_x/da for the quadratic cost."""
        return output_activations - y


@dataclass
class Inputs:
    """The benchmark's examples in one dtype, in both implementations' formats."""

    X: np.ndarray  # (784, n) columns, for the vectorised side
    labels: np.ndarray  # (n,) integers
    columns: list[tuple[np.ndarray, np.ndarray]]  # per-example (784, 1) and one-hot (10, 1)


def make_inputs(images: np.ndarray, labels: np.ndarray, dtype: str) -> Inputs:
    """Both formats, built once outside the timings (the classic code also prepares its list
    of column vectors when loading the data, not per epoch)."""
    X = to_columns(images, dtype)
    Y = one_hot(labels, CLASSES, dtype)
    columns = [
        (np.ascontiguousarray(X[:, i : i + 1]), np.ascontiguousarray(Y[:, i : i + 1])) for i in range(len(labels))
    ]
    return Inputs(X, labels, columns)


def new_network(config: Config, init: str, seed: int) -> Network:
    return Network(config.sizes, cost="quadratic", activation="sigmoid", init=init, dtype=config.dtype, seed=seed)


def epoch_vectorised(net: Network, data: Inputs, order: np.ndarray, batch: int) -> float:
    """Seconds for one epoch of ``net.update_mini_batch`` over ``order``, including the
    per-epoch gather and one-hot encoding that ``Network.SGD`` does. The SGD state keeps the
    gradient buffers from step to step, as in ``Network.SGD``."""
    start = time.perf_counter()
    state = SGDState(0)
    X_epoch = data.X[:, order]
    Y_epoch = one_hot(data.labels[order], CLASSES, net.dtype)
    for k in range(0, order.size, batch):
        net.update_mini_batch((X_epoch[:, k : k + batch], Y_epoch[:, k : k + batch]), ETA, state=state)
    return time.perf_counter() - start


def epoch_loop(net: LoopNetwork, data: Inputs, order: np.ndarray, batch: int) -> float:
    """Seconds for one epoch of the classic loop over the same ``order`` and mini-batches."""
    start = time.perf_counter()
    training_data = [data.columns[i] for i in order]  # stands in for random.shuffle
    mini_batches = [training_data[k : k + batch] for k in range(0, len(training_data), batch)]
    for mini_batch in mini_batches:
        net.update_mini_batch(mini_batch, ETA)
    return time.perf_counter() - start


def epoch_sgd(net: Network, data: Inputs, batch: int, guarded: bool = False) -> float:
    """Seconds for one full ``Network.SGD`` epoch (reference only: its shuffle is its own); with
    ``guarded``, the trainer's ``DivergenceGuard`` checks the network after every mini-batch."""
    state = SGDState(0)
    on_batch = None
    if guarded:
        guard = DivergenceGuard(net, state, ETA, ETA, (data.X, data.labels))

        def on_batch(done: int, total: int) -> None:
            guard.after_batch()

    start = time.perf_counter()
    net.SGD((data.X, data.labels), 1, batch, ETA, on_batch=on_batch, state=state)
    return time.perf_counter() - start


def warm_up(config: Config, data: Inputs, init: str, seed: int) -> None:
    """An untimed epoch of the vectorised side and the first examples of the loop, so that
    first-call costs (BLAS thread start-up, page faults, caches, CPU clocks) do not land in
    whichever implementation happens to run first. The vectorised epoch is cheap, and its
    first one measured up to ~40% slower than later ones."""
    order = np.arange(len(data.labels))
    vec = new_network(config, init, seed)
    loop = LoopNetwork(vec.biases, vec.weights)
    epoch_vectorised(vec, data, order, config.batch)
    epoch_loop(loop, data, order[: max(config.batch, 1000)], config.batch)


def compare(vec: Network, loop: LoopNetwork, config: Config) -> tuple[float, bool]:
    """Largest absolute weight/bias difference, and whether every array is allclose.

    The absolute tolerance is ``rtol`` times the array's largest magnitude: a weight that
    happens to sit near 0 has no meaningful relative error.
    """
    pairs = list(zip(vec.weights + vec.biases, loop.weights + loop.biases))
    diff = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in pairs)
    ok = all(
        a.dtype == b.dtype and np.allclose(a, b, rtol=config.rtol, atol=config.rtol * float(np.max(np.abs(b))))
        for a, b in pairs
    )
    return diff, ok


def run(configs: Sequence[Config], inputs: dict[str, Inputs], repeats: int, init: str, seed: int) -> list[Result]:
    """Time every configuration ``repeats`` times; repeats are interleaved across configurations
    and the order of the two sides alternates, so slow spells on a shared machine hit both."""
    results = [Result(c) for c in configs]
    for config in configs:
        warm_up(config, inputs[config.dtype], init, seed)
    rng = np.random.default_rng(seed)
    for repeat in range(repeats):
        for result in results:
            config, data = result.config, inputs[result.config.dtype]
            order = rng.permutation(len(data.labels))
            vec = new_network(config, init, seed)
            loop = LoopNetwork(vec.biases, vec.weights)
            # Each side first runs a few hundred examples on a throwaway copy, right before it is
            # timed: BLAS threads that slept while the other side ran would otherwise be woken on
            # the clock of whichever side comes first.
            head = order[: 50 * config.batch]
            sides: list[tuple[list[float], Callable[[], float], Callable[[], float]]] = [
                (
                    result.vectorised,
                    functools.partial(epoch_vectorised, new_network(config, init, seed), data, head, config.batch),
                    functools.partial(epoch_vectorised, vec, data, order, config.batch),
                ),
                (
                    result.loop,
                    functools.partial(epoch_loop, LoopNetwork(vec.biases, vec.weights), data, head, config.batch),
                    functools.partial(epoch_loop, loop, data, order, config.batch),
                ),
            ]
            if repeat % 2:
                sides.reverse()
            for times, warm, timed in sides:
                warm()
                times.append(timed())
            diff, ok = compare(vec, loop, config)
            result.max_abs_diff.append(diff)
            result.match.append(ok)
            # The two full epochs start from the same weights and shuffle, in alternating order.
            epochs = [(result.sgd, False), (result.guarded, True)]
            for times, guarded in epochs if repeat % 2 else epochs[::-1]:
                times.append(epoch_sgd(new_network(config, init, seed), data, config.batch, guarded))
    return results


def rate(n: int, seconds: list[float]) -> float:
    """Examples per second from the fastest epoch: on a shared machine noise only ever adds
    time, so the minimum is the best estimate of the code's own speed (as ``timeit`` advises)."""
    return n / min(seconds)


def blas_summary() -> str:
    """numpy's BLAS as one line, e.g. ``scipy-openblas 0.3.27``; ``unknown`` if numpy won't say."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # older numpy or a different layout: a summary is not worth failing for
        return "unknown"
    text = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    config = blas.get("openblas configuration")
    return f"{text} ({config.strip()})" if config else text


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_summary(),
        "cpu_count": os.cpu_count(),
    }
    # Not pinned, only reported: a thread setting inherited from the shell changes the figures.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            env[var] = os.environ[var]
    if hasattr(os, "getloadavg"):
        env["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return env


def format_table(rows: list[list[str]]) -> str:
    """Columns aligned: text left, numbers right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    left = {0, 1, len(widths) - 1}
    lines = []
    for row in rows:
        cells = [cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, time every configuration, print the table; 0, or 1/2 on failure."""
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument(
        "--data", type=Path, default=None, help="MNIST directory (default: $MNIST_DIR, else ../shared/data/mnist)"
    )
    parser.add_argument(
        "--examples", type=cli.number(int), default=10_000, help="training examples per timed epoch (default 10000)"
    )
    parser.add_argument(
        "--repeats",
        type=cli.number(int),
        default=3,
        help="epochs timed per configuration and side; the fastest is reported (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of the shuffles")
    parser.add_argument(
        "--init",
        choices=("classic", "scaled"),
        default="classic",
        help="weight initialisation (default classic, as network.py)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args(argv)

    data_dir = args.data if args.data is not None else mnist.default_dir()
    try:
        train, _ = load(data_dir)
    except DataError as e:
        print(f"cannot read the training data: {e}", file=sys.stderr)
        return 2
    n = min(args.examples, len(train))
    assert train.labels is not None  # load() refuses unlabelled training data
    images, labels = train.images[:n], train.labels[:n]
    inputs = {dtype: make_inputs(images, labels, dtype) for dtype in sorted({c.dtype for c in CONFIGS})}

    env = environment()
    print(f"numpy {env['numpy']}, BLAS {env['blas']}, {env['cpu_count']} CPUs, python {env['python']}")
    threads = {k: v for k, v in env.items() if k.endswith("_NUM_THREADS")}
    extra = f", {threads}" if threads else ""
    print(f"load average {env.get('load_average', '?')}{extra}")
    print(
        f"data {data_dir}: {n} training examples per epoch, {args.repeats} repeat(s), seed {args.seed}, eta {ETA}, "
        f"init {args.init}; sigmoid, quadratic cost"
    )
    print()

    results = run(CONFIGS, inputs, args.repeats, args.init, args.seed)

    rows = [
        [
            "config",
            "dtype",
            "batch",
            "vectorised ex/s",
            "loop ex/s",
            "ratio",
            "SGD epoch ex/s",
            "guarded ex/s",
            "guard cost",
            "weights",
        ]
    ]
    summary = []
    for r in results:
        vec_rate, loop_rate, sgd_rate = rate(n, r.vectorised), rate(n, r.loop), rate(n, r.sgd)
        guarded_rate = rate(n, r.guarded)
        guard_cost = sgd_rate / guarded_rate - 1  # the extra time per epoch, as a fraction
        ratio = vec_rate / loop_rate
        diff = max(r.max_abs_diff)
        rows.append(
            [
                r.config.name,
                r.config.dtype,
                str(r.config.batch),
                f"{vec_rate:,.0f}",
                f"{loop_rate:,.0f}",
                f"{ratio:.1f}x",
                f"{sgd_rate:,.0f}",
                f"{guarded_rate:,.0f}",
                f"{guard_cost:+.1%}",
                f"{'match' if all(r.match) else 'DIFFER'} (max |dw| {diff:.1e})",
            ]
        )
        summary.append(
            {
                "config": r.config.name,
                "sizes": list(r.config.sizes),
                "dtype": r.config.dtype,
                "batch": r.config.batch,
                "vectorised_examples_per_s": vec_rate,
                "loop_examples_per_s": loop_rate,
                "ratio": ratio,
                "sgd_examples_per_s": sgd_rate,
                "vectorised_seconds": r.vectorised,
                "loop_seconds": r.loop,
                "sgd_seconds": r.sgd,
                "guarded_examples_per_s": guarded_rate,
                "guarded_seconds": r.guarded,
                "guard_cost": guard_cost,
                "max_abs_weight_diff": r.max_abs_diff,
                "weights_match": all(r.match),
                "rtol": r.config.rtol,
            }
        )
    print(format_table(rows))
    first = summary[0]
    floor_met = first["ratio"] >= FLOOR
    print()
    label = f"{first['config']} batch-{first['batch']} {first['dtype']}"
    print(f"{label} ratio >= {FLOOR:g}x: {'yes' if floor_met else 'no'}")

    if args.json is not None:
        report = {
            "environment": env,
            "data": str(data_dir),
            "examples": n,
            "repeats": args.repeats,
            "seed": args.seed,
            "init": args.init,
            "eta": ETA,
            "configs": summary,
            "floor": {
                "config": CONFIGS[0].name,
                "dtype": CONFIGS[0].dtype,
                "batch": CONFIGS[0].batch,
                "threshold": FLOOR,
                "ratio": first["ratio"],
                "met": floor_met,
            },
        }
        with atomic_write(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")

    differ = [f"{r.config.name} {r.config.dtype}" for r in results if not all(r.match)]
    if differ:
        print(
            f"error: vectorised and loop weights differ beyond tolerance for {', '.join(differ)}, so the timings may "
            "not be of the same work (float32 at batch 10 drifts by rounding alone over many more than 10,000 "
            "examples: see CONFIGS)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
