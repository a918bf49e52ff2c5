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
from pathlib import Path
from typing import Any

import numpy as np

from model import augment, data, download, feedback, figures
from model.fileio import atomic_write
from model.metrics import confusion_matrix, format_confusion, per_class_accuracy
from model.network import ACTIVATIONS, COSTS, DTYPES, INITS, SCHEDULES, EpochRecord, Network, WeightsError
from model.progress import ProgressBar


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
    src = p.add_argument_group("data")
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
    net = p.add_argument_group("network")
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
    net.add_argument(
        "--init",
        type=Path,
        metavar="WEIGHTS",
        help="start from these saved weights (fine-tuning); their architecture replaces --hidden etc.",
    )
    sgd = p.add_argument_group("training")
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
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, required=True, help="where to write the weights (.npz)")
    out.add_argument("--kaggle-test", type=Path, metavar="CSV", help="Kaggle test.csv to predict")
    out.add_argument("--submission", type=Path, metavar="CSV", help="where to write the Kaggle submission")
    return p


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
    say = functools.partial(print, flush=True)
    # A bad weights or feedback file is found before minutes go into reading data.
    net = Network.load(args.init) if args.init is not None else None
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
            args.data,
            None,
            f"--validation {args.validation} leaves no training images out of {len(images)}",
        )
    train_idx, val_idx = data.split(len(images), args.validation, args.seed)
    # Feedback samples only ever train: validation and test stay MNIST's, so they still measure it.
    repeated = extras * args.extra_repeat
    X = data.to_columns(np.concatenate([images[train_idx], *(e.images for e in repeated)]), args.dtype)
    y = np.concatenate([labels[train_idx], *(e.labels for e in repeated)])
    validation = (data.to_columns(images[val_idx], args.dtype), labels[val_idx]) if len(val_idx) else None

    if net is not None:
        net.rng = np.random.default_rng(args.seed)
        say(f"fine-tuning {args.init} ({'-'.join(map(str, net.sizes))}, {net.activation}, {net.cost})")
    else:
        net = Network(
            [data.PIXELS, *args.hidden, 10],
            cost=args.cost,
            activation=args.activation,
            init=args.weight_init,
            dtype=args.dtype,
            seed=args.seed,
        )
    say(
        f"network {'-'.join(map(str, net.sizes))} ({net.parameter_count:,} parameters), {net.activation} hidden, "
        f"{net.cost} cost, {net.dtype.name}; {len(y):,} training and {len(val_idx):,} validation images"
        + (f" (with {sum(map(len, extras)):,} feedback samples x {args.extra_repeat})" if extras else "")
        + (f", {len(test_set):,} test images" if test_set else "")
    )

    best: dict[str, Any] = {"accuracy": -1.0, "epoch": 0, "params": None}
    bar: ProgressBar | None = None

    def on_batch(done: int, total: int) -> None:
        bar.update(done)

    def on_epoch(record: EpochRecord) -> None:
        nonlocal bar
        bar.close()
        val = record.test_accuracy
        say(
            f"epoch {record.epoch:>{len(str(args.epochs))}}/{args.epochs}  cost {record.cost:.4f}  "
            f"train {record.train_accuracy:7.2%}  "
            + (f"validation {val:7.2%}  " if val is not None else "")
            + f"eta {record.eta:<8.4g}{record.seconds:6.1f} s"
        )
        score = val if val is not None else record.train_accuracy
        if score > best["accuracy"]:
            best.update(accuracy=score, epoch=record.epoch, params=_snapshot(net))
        if record.epoch < args.epochs:
            bar = ProgressBar(len(y), label=f"epoch {record.epoch + 1}/{args.epochs} ")

    bar = ProgressBar(len(y), label=f"epoch 1/{args.epochs} ")
    transform = augment.TRANSFORMS.get(args.augment)
    started = time.perf_counter()
    try:
        history = net.SGD(
            (X, y),
            args.epochs,
            args.batch_size,
            args.eta,
            test_data=validation,
            lmbda=args.lmbda,
            momentum=args.momentum,
            schedule=args.schedule,
            transform=transform,
            on_batch=on_batch,
            on_epoch=on_epoch,
        )
    finally:
        bar.close()
    train_seconds = time.perf_counter() - started
    net.biases, net.weights = best["params"]
    say(
        f"kept epoch {best['epoch']} (best {'validation' if validation else 'training'} accuracy "
        f"{best['accuracy']:.2%}); trained in {train_seconds:.1f} s"
    )

    metrics: dict[str, Any] = {
        "config": _config(args, net),
        "history": [r.as_dict() for r in history],
        "best_epoch": best["epoch"],
        "validation_accuracy": best["accuracy"] if validation else None,
        "seconds_per_epoch": float(np.mean([r.seconds for r in history])),
        "train_seconds": train_seconds,
        "inputs": {str(p): _sha256(p) for p in _inputs(train_set, test_set, kaggle_test)},
        # A feedback database changes while the app runs: what was read is recorded, not the file.
        "feedback": [
            {
                "path": str(extra.sources[0]),
                "samples": len(extra),
                "sha256": hashlib.sha256(extra.images.tobytes() + extra.labels.astype(np.uint8).tobytes()).hexdigest(),
                "repeat": args.extra_repeat,
            }
            for extra in extras
        ],
        "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "test_accuracy": None,
    }
    mistakes = None
    if test_set is not None:
        X_test = data.to_columns(test_set.images, net.dtype.name)
        predicted = net.predict(X_test)
        matrix = confusion_matrix(test_set.labels, predicted)
        metrics["test_accuracy"] = float(np.trace(matrix) / matrix.sum())
        metrics["per_class_accuracy"] = per_class_accuracy(matrix)
        metrics["confusion_matrix"] = matrix.tolist()
        wrong = np.flatnonzero(predicted != test_set.labels)
        mistakes = (test_set.images[wrong], test_set.labels[wrong], predicted[wrong])
        say(f"test accuracy {metrics['test_accuracy']:.2%} on {len(test_set):,} images")
        say(format_confusion(matrix))

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
    title = f"{'-'.join(map(str, net.sizes))} {net.activation}, {net.cost}"
    figures.training_curves(metrics["history"], outputs["curves"], title=title)
    if mistakes is not None:
        figures.confusion_matrix_figure(np.asarray(metrics["confusion_matrix"]), outputs["confusion"], title=title)
        figures.mistakes_grid(*mistakes, outputs["mistakes"])
    if kaggle_test is not None:
        write_submission(net, kaggle_test, args.submission)
        say(f"wrote {args.submission} ({len(kaggle_test):,} predictions)")
    say("wrote " + ", ".join(str(p) for p in [args.out, *outputs.values()] if p.exists()))
    return 0


def write_submission(net: Network, test: data.Dataset, path: Path) -> None:
    """Kaggle's submission format: ``ImageId,Label`` with ImageId counting from 1."""
    predicted = net.predict(data.to_columns(test.images, net.dtype.name))
    with atomic_write(path, "w") as f:
        f.write("ImageId,Label\n")
        f.writelines(f"{i},{label}\n" for i, label in enumerate(predicted, start=1))


def _output_paths(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("")
    return {
        kind: Path(f"{stem}.{kind}.{ext}")
        for kind, ext in [("metrics", "json"), ("curves", "png"), ("confusion", "png"), ("mistakes", "png")]
    }


def _snapshot(net: Network) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [b.copy() for b in net.biases], [w.copy() for w in net.weights]


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
    raise SystemExit(main())
