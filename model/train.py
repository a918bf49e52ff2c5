"""Train a network on MNIST or Kaggle's Digit Recognizer data and save what it learned.

    python -m model.train --data ../shared/data/mnist --hidden 15 --epochs 30 --out runs/seed.npz

Writes the weights (``--out``, an .npz), and beside them ``<stem>.metrics.json`` (config,
history, test accuracy, per-class accuracy, confusion matrix, timings, SHA-256 of the inputs),
``<stem>.curves.png``, ``<stem>.confusion.png`` and ``<stem>.mistakes.png``. The weights of the
epoch with the best validation accuracy are the ones kept. An interrupted or failed run writes
nothing and leaves any earlier files as they were.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model import augment, cli, data, download, evaluate, feedback, figures
from model.fileio import atomic_write
from model.metrics import format_confusion
from model.network import ACTIVATIONS, COSTS, DTYPES, INITS, SCHEDULES, EpochRecord, Network, SGDState, WeightsError
from model.progress import ProgressBar
from model.shape import CLASSES, PIXELS


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes like 15 or 1024,1024, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m model.train",
        description="Train a digit-recognising network with mini-batch SGD and save its weights, metrics and figures.",
    )
    _add_data_arguments(p.add_argument_group("data"))
    _add_network_arguments(p.add_argument_group("network"))
    _add_training_arguments(p.add_argument_group("training"))
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, required=True, help="where to write the weights (.npz)")
    out.add_argument("--kaggle-test", type=Path, metavar="CSV", help="Kaggle test.csv to predict")
    out.add_argument("--submission", type=Path, metavar="CSV", help="where to write the Kaggle submission")
    return p


def _add_data_arguments(src: argparse._ArgumentGroup) -> None:
    src.add_argument("--data", type=Path, help="an MNIST folder (IDX files, .gz or raw) or a Kaggle train.csv")
    src.add_argument(
        "--download",
        type=Path,
        metavar="DIR",
        help="fetch the MNIST files into DIR first (see python -m model.data download) and train on them",
    )
    src.add_argument("--train-limit", type=_positive(int), metavar="N", help="use only the first N training images")
    src.add_argument(
        "--validation",
        type=int,
        default=10_000,
        metavar="N",
        help="training images held out (a seeded random choice) to pick the best epoch (default 10000)",
    )
    src.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        metavar="FEEDBACK.sqlite",
        help="also train on the samples people labelled in the web app (DIGITS_FEEDBACK_DB); repeatable",
    )
    src.add_argument(
        "--extra-repeat",
        type=_positive(int),
        default=1,
        metavar="K",
        help="use each --extra sample K times per epoch, so a few hundred drawings weigh against MNIST (default 1)",
    )


def _add_network_arguments(net: argparse._ArgumentGroup) -> None:
    net.add_argument("--hidden", type=_hidden_sizes, default=[30], help="hidden layer sizes, e.g. 15 or 1024,1024")
    net.add_argument("--cost", choices=COSTS, default="quadratic")
    net.add_argument("--activation", choices=ACTIVATIONS, default="sigmoid", help="of the hidden layers")
    net.add_argument(
        "--weight-init",
        choices=INITS,
        default="scaled",
        help="scaled: N(0, g/n_in) weights; classic: N(0, 1) as in the original network.py",
    )
    net.add_argument("--dtype", choices=DTYPES, default="float32")
    # Fine-tuning: the saved network's architecture replaces --hidden, --cost and the rest.
    net.add_argument("--init", type=Path, metavar="WEIGHTS", help="start from these saved weights (fine-tuning)")


def _add_training_arguments(sgd: argparse._ArgumentGroup) -> None:
    sgd.add_argument("--epochs", type=_positive(int), default=30)
    sgd.add_argument("--batch-size", type=_positive(int), default=10)
    sgd.add_argument("--eta", type=_positive(float), default=3.0, help="learning rate")
    sgd.add_argument("--schedule", choices=SCHEDULES, default="constant", help="learning-rate schedule")
    sgd.add_argument("--lmbda", type=_non_negative, default=0.0, help="L2 weight decay (scaled by 1/n)")
    sgd.add_argument("--momentum", type=_non_negative, default=0.0)
    sgd.add_argument(
        "--augment",
        choices=["none", *augment.TRANSFORMS],
        default="none",
        help="random distortions of the training images each epoch",
    )
    sgd.add_argument("--seed", type=int, default=0, help="seeds the split, initialisation, shuffling and augmentation")


def main(argv: list[str] | None = None) -> int:
    """Run the trainer with command-line arguments ``argv``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.kaggle_test is None) != (args.submission is None):
        parser.error("--kaggle-test and --submission go together")
    if args.data is None and args.download is None:
        parser.error("give --data (an MNIST folder or a Kaggle train.csv) or --download DIR")
    if args.out.suffix != ".npz":
        parser.error(f"--out must name an .npz file, got {args.out}")
    if args.momentum >= 1:
        parser.error("--momentum must be below 1")
    try:
        return _train(args)
    except (data.DataError, WeightsError, download.DownloadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. an --out folder that cannot be written
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: nothing was written; earlier files are unchanged", file=sys.stderr)
        return 130


def _train(args: argparse.Namespace) -> int:
    """The run, step by step: read the inputs, build the network, train, measure, write."""
    say = functools.partial(print, flush=True)
    # A bad weights or feedback file is found before minutes go into reading data.
    start = Network.load(args.init) if args.init is not None else None
    inputs = load_inputs(args)
    net, state = build_network(args, start, say)
    say(_summary(net, inputs, args))
    run = train_network(net, state, inputs, args, say)
    metrics = {**_run_metrics(args, net, inputs, run), "test_accuracy": None}
    mistakes = None
    if inputs.test_set is not None:
        test, mistakes = measure_test_set(net, inputs.test_set, say)
        metrics.update(test)
    write_outputs(net, metrics, mistakes, inputs, args, say)
    return 0


@dataclass
class Inputs:
    """What a run reads before it trains."""

    train_set: data.Dataset  # as read, before --train-limit and the validation split
    test_set: data.Dataset | None  # MNIST's test images; None for a Kaggle train.csv
    kaggle_test: data.Dataset | None  # --kaggle-test, unlabelled
    extras: list[data.Dataset]  # --extra feedback samples, one Dataset per database
    X: np.ndarray  # (784, n) training columns, the feedback samples included
    y: np.ndarray  # (n,) their labels
    validation: tuple[np.ndarray, np.ndarray] | None  # (784, v) columns and labels; None for --validation 0


def load_inputs(args: argparse.Namespace) -> Inputs:
    """Read (and with --download, fetch) the data and split off the validation images; raises
    ``DataError`` for data that cannot be read or used."""
    extras = [feedback.read_samples(path) for path in args.extra]
    for extra in extras:
        if not len(extra):
            raise data.DataError(extra.sources[0], None, "has no feedback samples yet")
    if args.download is not None:
        download.download_mnist(args.download)
        args.data = args.download
    train_set, test_set = data.load(args.data)
    kaggle_test = data.read_kaggle_csv(args.kaggle_test) if args.kaggle_test else None
    if kaggle_test is not None and kaggle_test.labels is not None:
        raise data.DataError(args.kaggle_test, "row 1", "has a label column: --kaggle-test takes Kaggle's test.csv")

    images, labels = train_set.images, train_set.labels
    if args.train_limit:
        images, labels = images[: args.train_limit], labels[: args.train_limit]
    if not 0 <= args.validation < len(images):
        raise data.DataError(
            args.data, None, f"--validation {args.validation} leaves no training images out of {len(images)}"
        )
    train_idx, val_idx = data.split(len(images), args.validation, args.seed)
    # Feedback samples only ever train: validation and test stay MNIST's, so they still measure it.
    repeated = extras * args.extra_repeat
    X = data.to_columns(np.concatenate([images[train_idx], *(e.images for e in repeated)]), args.dtype)
    y = np.concatenate([labels[train_idx], *(e.labels for e in repeated)])
    validation = (data.to_columns(images[val_idx], args.dtype), labels[val_idx]) if len(val_idx) else None
    return Inputs(train_set, test_set, kaggle_test, extras, X, y, validation)


def build_network(
    args: argparse.Namespace, start: Network | None, say: Callable[[str], None]
) -> tuple[Network, SGDState]:
    """The network to train (``start`` when fine-tuning, else a new one as the arguments say)
    and a fresh SGD state.

    One generator seeded with --seed draws a new network's initial weights and then goes on to
    shuffle and distort the training data, so the seed fixes the whole run.
    """
    rng = np.random.default_rng(args.seed)
    if start is not None:
        say(f"fine-tuning {args.init} ({'-'.join(map(str, start.sizes))}, {start.activation}, {start.cost})")
        return start, SGDState(rng)
    net = Network(
        [PIXELS, *args.hidden, CLASSES],
        cost=args.cost,
        activation=args.activation,
        init=args.weight_init,
        dtype=args.dtype,
        seed=rng,
    )
    return net, SGDState(rng)


def _summary(net: Network, inputs: Inputs, args: argparse.Namespace) -> str:
    validation = 0 if inputs.validation is None else len(inputs.validation[1])
    return (
        f"network {'-'.join(map(str, net.sizes))} ({net.parameter_count:,} parameters), {net.activation} hidden, "
        f"{net.cost} cost, {net.dtype.name}; {len(inputs.y):,} training and {validation:,} validation images"
        + (f" (with {sum(map(len, inputs.extras)):,} feedback samples x {args.extra_repeat})" if inputs.extras else "")
        + (f", {len(inputs.test_set):,} test images" if inputs.test_set else "")
    )


@dataclass
class TrainingRun:
    """What ``train_network`` did."""

    history: list[EpochRecord]
    best_epoch: int  # 1-based; its weights are the network's now
    best_accuracy: float  # its validation accuracy, or its training accuracy without validation
    seconds: float


def train_network(
    net: Network, state: SGDState, inputs: Inputs, args: argparse.Namespace, say: Callable[[str], None]
) -> TrainingRun:
    """Train ``net`` as the arguments say, showing each epoch, and leave it with the weights of
    its best epoch."""
    best = BestEpoch()
    progress = EpochProgress(args.epochs, len(inputs.y), say)

    def on_epoch(record: EpochRecord) -> None:
        progress.epoch_done(record)
        best.consider(record, net)

    started = time.perf_counter()
    try:
        history = net.SGD(
            (inputs.X, inputs.y),
            args.epochs,
            args.batch_size,
            args.eta,
            validation_data=inputs.validation,
            lmbda=args.lmbda,
            momentum=args.momentum,
            schedule=args.schedule,
            transform=augment.TRANSFORMS.get(args.augment),
            on_batch=progress.update,
            on_epoch=on_epoch,
            state=state,
        )
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    net.set_parameters(best.parameters)
    say(
        f"kept epoch {best.epoch} (best {'validation' if inputs.validation else 'training'} accuracy "
        f"{best.accuracy:.2%}); trained in {seconds:.1f} s"
    )
    return TrainingRun(history, best.epoch, best.accuracy, seconds)


@dataclass
class BestEpoch:
    """The epoch with the best validation accuracy (training accuracy when there is no
    validation set) so far, and a copy of the weights it ended with."""

    accuracy: float = -1.0
    epoch: int = 0
    parameters: dict[str, np.ndarray] = field(default_factory=dict)

    def consider(self, record: EpochRecord, net: Network) -> None:
        """Keep ``net``'s weights if the epoch of ``record`` beats the best so far."""
        score = record.validation_accuracy if record.validation_accuracy is not None else record.train_accuracy
        if score > self.accuracy:
            self.accuracy, self.epoch, self.parameters = score, record.epoch, net.parameters()


class EpochProgress:
    """A progress bar through each epoch, and one line of figures at its end."""

    def __init__(self, epochs: int, examples: int, say: Callable[[str], None]) -> None:
        self.epochs, self.examples, self.say = epochs, examples, say
        self.bar = ProgressBar(examples, label=f"epoch 1/{epochs} ")

    def update(self, done: int, total: int) -> None:
        self.bar.update(done)

    def epoch_done(self, record: EpochRecord) -> None:
        self.bar.close()
        val = record.validation_accuracy
        self.say(
            f"epoch {record.epoch:>{len(str(self.epochs))}}/{self.epochs}  cost {record.cost:.4f}  "
            f"train {record.train_accuracy:7.2%}  "
            + (f"validation {val:7.2%}  " if val is not None else "")
            + f"eta {record.eta:<8.4g}{record.seconds:6.1f} s"
        )
        if record.epoch < self.epochs:
            self.bar = ProgressBar(self.examples, label=f"epoch {record.epoch + 1}/{self.epochs} ")

    def close(self) -> None:
        self.bar.close()


def _run_metrics(args: argparse.Namespace, net: Network, inputs: Inputs, run: TrainingRun) -> dict[str, Any]:
    """The metrics file's record of the run: what it was given and how training went."""
    return {
        "config": _config(args, net),
        "history": [r.as_dict() for r in run.history],
        "best_epoch": run.best_epoch,
        "validation_accuracy": run.best_accuracy if inputs.validation else None,
        "seconds_per_epoch": float(np.mean([r.seconds for r in run.history])),
        "train_seconds": run.seconds,
        "inputs": {str(p): _sha256(p) for p in _inputs(inputs.train_set, inputs.test_set, inputs.kaggle_test)},
        # A feedback database changes while the app runs: what was read is recorded, not the file.
        "feedback": [
            {
                "path": str(extra.sources[0]),
                "samples": len(extra),
                "sha256": hashlib.sha256(extra.images.tobytes() + extra.labels.astype(np.uint8).tobytes()).hexdigest(),
                "repeat": args.extra_repeat,
            }
            for extra in inputs.extras
        ],
        "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def measure_test_set(
    net: Network, test_set: data.Dataset, say: Callable[[str], None]
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``net`` on the test images: the metrics file's ``test_accuracy``, ``per_class_accuracy``
    and ``confusion_matrix``, and the misread images with their true and predicted labels."""
    predicted = evaluate.predicted_labels(net, test_set)
    scores = evaluate.scores(test_set.labels, predicted)
    say(f"test accuracy {scores['accuracy']:.2%} on {len(test_set):,} images")
    say(format_confusion(np.asarray(scores["confusion_matrix"])))
    wrong = np.flatnonzero(predicted != test_set.labels)
    mistakes = (test_set.images[wrong], test_set.labels[wrong], predicted[wrong])
    test = {
        "test_accuracy": scores["accuracy"],
        "per_class_accuracy": scores["per_class_accuracy"],
        "confusion_matrix": scores["confusion_matrix"],
    }
    return test, mistakes


def write_outputs(
    net: Network,
    metrics: dict[str, Any],
    mistakes: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    inputs: Inputs,
    args: argparse.Namespace,
    say: Callable[[str], None],
) -> None:
    """Write the weights, the metrics file, the figures and any Kaggle submission."""
    net.metadata = {
        "trained": metrics["trained"],
        "test_accuracy": metrics["test_accuracy"],
        "validation_accuracy": metrics["validation_accuracy"],
        "training": metrics["config"],
    }
    # Everything is computed before the first write, so an interrupt leaves no half set of files.
    outputs = _output_paths(args.out)
    net.save(args.out)
    with atomic_write(outputs["metrics"], "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    title = figures.network_title(net)
    figures.training_curves(metrics["history"], outputs["curves"], title=title)
    if mistakes is not None:
        figures.confusion_matrix_figure(np.asarray(metrics["confusion_matrix"]), outputs["confusion"], title=title)
        figures.mistakes_grid(*mistakes, outputs["mistakes"])
    if inputs.kaggle_test is not None:
        write_submission(net, inputs.kaggle_test, args.submission)
        say(f"wrote {args.submission} ({len(inputs.kaggle_test):,} predictions)")
    say("wrote " + ", ".join(str(p) for p in [args.out, *outputs.values()] if p.exists()))


def write_submission(net: Network, test: data.Dataset, path: Path) -> None:
    """Kaggle's submission format: ``ImageId,Label`` with ImageId counting from 1."""
    predicted = evaluate.predicted_labels(net, test)
    with atomic_write(path, "w") as f:
        f.write("ImageId,Label\n")
        f.writelines(f"{i},{label}\n" for i, label in enumerate(predicted, start=1))


def _output_paths(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("")
    return {
        kind: Path(f"{stem}.{kind}.{ext}")
        for kind, ext in [("metrics", "json"), ("curves", "png"), ("confusion", "png"), ("mistakes", "png")]
    }


def _config(args: argparse.Namespace, net: Network) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        return str(v) if isinstance(v, Path) else [plain(x) for x in v] if isinstance(v, list) else v

    config = {k: plain(v) for k, v in vars(args).items()}
    config.update(sizes=net.sizes, cost=net.cost, activation=net.activation, dtype=net.dtype.name)
    return config


def _inputs(*sets: data.Dataset | None) -> list[Path]:
    return [p for s in sets if s is not None for p in s.sources]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
