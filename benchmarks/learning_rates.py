"""Learning rates: validation accuracy after a short run for each cost, activation, mini-batch
size and momentum over a grid of eta, the measurement behind the trainer's default learning rate.

    python benchmarks/learning_rates.py [--data DIR] [--examples 10000] [--epochs 3] [--seeds 2] [--json PATH]

Every run trains a 784-100-10 network (scaled initialisation, float32) on the same first
``--examples`` MNIST training images and measures it on the same 5,000 held-out training images
(the last of the 60,000), so the rows differ only in what they name; each cell is the mean of
``--seeds`` runs (initial weights and shuffles seeded 0, 1, ..). A run whose cost became
NaN or infinite shows ``nan``. The ``default`` column is what ``model.train.default_eta`` picks
for the row and the accuracy at that eta (taken from the grid when it is on it, else run too);
``best`` is the grid's best. Exits 2 if the data cannot be read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Set before numpy starts its BLAS: the figures are accuracies, not timings, and at these sizes one
# thread per run is many times faster than threads that contend for a busy machine's cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# Run as ``python benchmarks/learning_rates.py`` the script's own folder is on sys.path, not the
# repository root, so ``model`` would not be importable.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model import cli, mnist  # noqa: E402
from model.data import DataError, load, to_columns  # noqa: E402
from model.fileio import atomic_write  # noqa: E402
from model.network import Network, SGDState  # noqa: E402
from model.shape import CLASSES, PIXELS  # noqa: E402
from model.train import default_eta  # noqa: E402

HIDDEN = 100
VALIDATION = 5_000
GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
CONFIGS = (("quadratic", "sigmoid"), ("cross-entropy", "sigmoid"), ("quadratic", "relu"), ("cross-entropy", "relu"))
BATCHES = (10, 32, 128)
MOMENTA = (0.0, 0.9)


@dataclass
class Row:
    """One cost, activation, mini-batch size and momentum: validation accuracy at each eta."""

    cost: str
    activation: str
    batch: int
    momentum: float
    accuracy: dict[float, float] = field(default_factory=dict)  # NaN for a run that blew up

    @property
    def default(self) -> float:
        return default_eta(self.cost, self.activation, self.batch, self.momentum)

    @property
    def best(self) -> float:
        return max(GRID, key=lambda eta: -1.0 if math.isnan(self.accuracy[eta]) else self.accuracy[eta])


def short_run(
    cost: str,
    activation: str,
    batch: int,
    momentum: float,
    eta: float,
    data: Sequence[np.ndarray],
    epochs: int,
    seed: int,
) -> float:
    """Validation accuracy of a fresh network seeded with ``seed`` after ``epochs`` epochs at
    ``eta``; NaN if its training cost stopped being finite."""
    X, y, X_val, y_val = data
    net = Network([PIXELS, HIDDEN, CLASSES], cost=cost, activation=activation, seed=seed)
    with np.errstate(all="ignore"):  # a run that blows up overflows on the way; it is reported as nan
        history = net.SGD((X, y), epochs, batch, eta, momentum=momentum, state=SGDState(seed))
        if not all(math.isfinite(r.cost) for r in history):
            return math.nan
        return net.evaluate((X_val, y_val)) / len(y_val)


def measure(data: Sequence[np.ndarray], epochs: int, seeds: int) -> list[Row]:
    """Every row at every eta of the grid and at the row's default, averaged over ``seeds`` seeds
    (a run that blew up for any seed counts as NaN)."""
    rows = []
    for (cost, activation), batch, momentum in itertools.product(CONFIGS, BATCHES, MOMENTA):
        row = Row(cost, activation, batch, momentum)
        for eta in sorted({*GRID, row.default}):
            runs = [short_run(cost, activation, batch, momentum, eta, data, epochs, seed) for seed in range(seeds)]
            row.accuracy[eta] = float(np.mean(runs))
        rows.append(row)
        print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    return rows


def percent(accuracy: float) -> str:
    return "nan" if math.isnan(accuracy) else f"{accuracy:.1%}"


def format_table(rows: list[Row]) -> str:
    """A Markdown table: one line per row, one column per eta, then the best and the default."""
    header = ["cost", "hidden", "batch", "momentum", *(f"{eta:g}" for eta in GRID), "best", "default"]
    lines = [header, ["---"] * len(header)]
    for r in rows:
        lines.append(
            [
                r.cost,
                r.activation,
                str(r.batch),
                f"{r.momentum:g}",
                *(percent(r.accuracy[eta]) for eta in GRID),
                f"{r.best:g}",
                f"{r.default:g} ({percent(r.accuracy[r.default])})",
            ]
        )
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the grid, print the table; 0, or 2 when the data cannot be read."""
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--data", type=Path, help="MNIST directory (default: $MNIST_DIR, else ../shared/data/mnist)")
    parser.add_argument(
        "--examples", type=cli.number(int), default=10_000, help="training images of each run (default 10000)"
    )
    parser.add_argument("--epochs", type=cli.number(int), default=3, help="epochs of each run (default 3)")
    parser.add_argument(
        "--seeds", type=cli.number(int), default=2, help="runs averaged per cell, seeds 0.. (default 2)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the table to PATH as JSON")
    args = parser.parse_args(argv)

    data_dir = args.data if args.data is not None else mnist.default_dir()
    try:
        train, _ = load(data_dir)
    except DataError as e:
        print(f"cannot read the training data: {e}", file=sys.stderr)
        return 2
    n = min(args.examples, len(train) - VALIDATION)
    data = (
        to_columns(train.images[:n]),
        train.labels[:n],
        to_columns(train.images[-VALIDATION:]),
        train.labels[-VALIDATION:],
    )
    print(
        f"data {data_dir}: {n:,} training and {VALIDATION:,} validation images, {args.epochs} epochs, "
        f"{PIXELS}-{HIDDEN}-{CLASSES}, scaled initialisation, float32; "
        f"mean validation accuracy of seeds 0..{args.seeds - 1} by eta"
    )
    started = time.perf_counter()
    rows = measure(data, args.epochs, args.seeds)
    print(format_table(rows))
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json is not None:
        report = {
            "data": str(data_dir),
            "examples": n,
            "validation": VALIDATION,
            "epochs": args.epochs,
            "seeds": args.seeds,
            "hidden": HIDDEN,
            "rows": [
                {
                    "cost": r.cost,
                    "activation": r.activation,
                    "batch": r.batch,
                    "momentum": r.momentum,
                    "accuracy": {f"{eta:g}": None if math.isnan(a) else a for eta, a in r.accuracy.items()},
                    "best": r.best,
                    "default": r.default,
                }
                for r in rows
            ],
        }
        with atomic_write(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
