"""Train a network on MNIST or Kaggle's Digit Recognizer data and save what it learned.

    python -m model.train --data ../shared/data/mnist --hidden 15 --epochs 30 --out runs/seed.npz
    python -m model.train --data ../shared/data/mnist --preset digits --out model/digits.npz

Writes the weights (``--out``, an .npz), and beside them ``<stem>.metrics.json`` (config,
history, test accuracy, per-class accuracy, confusion matrix, timings, SHA-256 of the inputs),
``<stem>.curves.png``, ``<stem>.confusion.png`` and ``<stem>.mistakes.png``. The weights of the
epoch with the best validation accuracy are the ones kept. Those files are written only when
training has finished, so an interrupted or failed run leaves any earlier ones as they were.

After every epoch the run's state goes to ``<stem>.checkpoint.npz`` (``model/checkpoint.py``);
an interrupted run keeps it, the same command plus ``--resume <stem>.checkpoint.npz`` goes on
from it to the same weights an unbroken run ends with, and a finished run removes it. A run
whose learning rate is too high stops as soon as that shows, writing nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import importlib
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model import augment, cli, data, download, evaluate, feedback
from model.checkpoint import Checkpoint, CheckpointError, path_for
from model.fileio import atomic_write
from model.metrics import format_confusion
from model.network import ACTIVATIONS, COSTS, DTYPES, INITS, SCHEDULES, EpochRecord, Network, SGDState, WeightsError
from model.progress import ProgressBar
from model.shape import CLASSES, PIXELS

# ---------------------------------------------------------------------------------------------
# Defaults and presets
# ---------------------------------------------------------------------------------------------

# What an option is when neither the command nor its --preset gives it. The learning rate and the
# validation size have rules instead: ``default_eta`` and ``default_validation``.
DEFAULTS: dict[str, Any] = {
    "hidden": [30],
    "cost": "quadratic",
    "activation": "sigmoid",
    "weight_init": "scaled",
    "dtype": "float32",
    "epochs": 30,
    "batch_size": 10,
    "schedule": "constant",
    "lmbda": 0.0,
    "momentum": 0.0,
    "augment": "none",
    "seed": 0,
}

# The README's three models ("Results"), each in one flag; flags given with it win.
# The seed and classic networks differ only in their hidden layer: the original network.py's settings.
_ORIGINAL = {
    "cost": "quadratic",
    "activation": "sigmoid",
    "weight_init": "classic",
    "epochs": 30,
    "batch_size": 10,
    "eta": 3.0,
    "seed": 0,
}
PRESETS: dict[str, dict[str, Any]] = {
    "seed": {"hidden": [15], **_ORIGINAL},
    "classic": {"hidden": [30], **_ORIGINAL},
    "digits": {
        "hidden": [800, 800],
        "activation": "relu",
        "cost": "cross-entropy",
        "epochs": 60,
        "batch_size": 128,
        "eta": 0.1,
        "momentum": 0.9,
        "schedule": "cosine",
        "lmbda": 5.0,
        "augment": "elastic",
        "validation": 5_000,
        "seed": 1,
    },
}

# Default learning rates by cost and hidden activation, at the mini-batch sizes ETA_BATCHES
# without momentum and with momentum 0.9, from benchmarks/learning_rates.py (784-100-10, 3 epochs
# on 10,000 MNIST images, the grid 0.01, 0.03, .., 10; its table is in the README): the grid's
# best rate, except for ReLU where the rate above the best collapsed to chance: there the one
# below, since a rate on the edge in this network goes over it in wider ones. (Quadratic/sigmoid's
# 3 at mini-batches of 10, the classic rate, is on an edge too, for hidden layers of 300 units or
# more; the DivergenceGuard stops such a run.)
ETA_BATCHES = (10, 32, 128)
ETA_MOMENTUM = 0.9
ETAS: dict[tuple[str, str], tuple[tuple[float, ...], tuple[float, ...]]] = {
    # (without momentum, with momentum 0.9), each at ETA_BATCHES
    ("quadratic", "sigmoid"): ((3.0, 1.0, 1.0), (0.03, 0.03, 0.1)),
    ("cross-entropy", "sigmoid"): ((1.0, 1.0, 1.0), (0.1, 0.3, 0.3)),
    ("quadratic", "relu"): ((0.3, 0.3, 0.3), (0.03, 0.03, 0.03)),
    ("cross-entropy", "relu"): ((0.1, 0.3, 0.3), (0.01, 0.03, 0.1)),
}

MAX_VALIDATION = 10_000


def default_eta(cost: str, activation: str, batch_size: int, momentum: float = 0.0) -> float:
    """The learning rate a run gets without --eta: ``ETAS`` at the measured mini-batch size
    nearest to ``batch_size`` (on a log scale), and for other momenta than the measured 0 and 0.9
    the geometric interpolation between them in 1 - momentum, which scales a step's length."""
    nearest = min(range(len(ETA_BATCHES)), key=lambda i: abs(math.log(batch_size / ETA_BATCHES[i])))
    without, with_momentum = (rates[nearest] for rates in ETAS[cost, activation])
    t = math.log(1 - momentum) / math.log(1 - ETA_MOMENTUM)
    # Rounded so that 0.3 * 0.1 shows, and is recorded, as 0.03.
    return float(f"{without * (with_momentum / without) ** t:.3g}")


def default_validation(images: int) -> int:
    """The validation images a run holds out without --validation: a sixth of the training
    ``images``, at most ``MAX_VALIDATION`` (MNIST's 60,000 give the classic 50,000 + 10,000)."""
    return min(MAX_VALIDATION, images // 6)


def apply_preset(args: argparse.Namespace) -> None:
    """Fill in every option the command left out (None) from its --preset, else from ``DEFAULTS``;
    ``eta`` and ``validation`` stay None when neither sets them (their rules need the data)."""
    preset = PRESETS.get(args.preset, {})
    for name in DEFAULTS.keys() | preset.keys():
        if getattr(args, name) is None:
            setattr(args, name, preset.get(name, DEFAULTS.get(name)))


def _shown(value: Any) -> str:
    """An option's value as the command line writes it: ``800,800``, ``0.1``, ``classic``."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def _flags(settings: dict[str, Any]) -> list[str]:
    """``settings`` as command-line options, each with its value: ``["--hidden 800,800", ...]``."""
    return [f"--{name.replace('_', '-')} {_shown(value)}" for name, value in settings.items()]


def _preset_help(name: str, settings: dict[str, Any], width: int = 96) -> str:
    """The preset's options in lines of at most ``width`` characters, each option whole."""
    lines = [f"  {name:<8}"]
    for flag in _flags(settings):
        if len(lines[-1]) + 1 + len(flag) > width:
            lines.append(" " * 10)
        lines[-1] += " " + flag
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


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
    return cli.number(kind)


def _non_negative(kind: type) -> Any:
    return cli.number(kind, zero_allowed=True)


def _default(name: str) -> str:
    return f"(default: {_shown(DEFAULTS[name])})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m model.train",
        description="Train a digit-recognising network with mini-batch SGD and save its weights, metrics and figures.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--preset",
        choices=PRESETS,
        help="the settings of one of the README's models (see below); options given as well override them",
    )
    _add_data_arguments(p.add_argument_group("data"))
    _add_network_arguments(p.add_argument_group("network"))
    _add_training_arguments(p.add_argument_group("training"))
    out = p.add_argument_group("output")
    out.add_argument(
        "--out", type=Path, required=True, metavar="NAME.npz", help="where to write the weights (required)"
    )
    out.add_argument(
        "--resume",
        type=Path,
        metavar="CHECKPOINT",
        help="go on from NAME.checkpoint.npz, which an interrupted run leaves; give the rest of its command unchanged",
    )
    out.add_argument("--kaggle-test", type=Path, metavar="CSV", help="Kaggle test.csv to predict (default: none)")
    out.add_argument("--submission", type=Path, metavar="CSV", help="where to write the Kaggle submission")
    return p


def _add_data_arguments(src: argparse._ArgumentGroup) -> None:
    src.add_argument(
        "--data", type=Path, metavar="PATH", help="an MNIST folder (IDX files, .gz or raw) or Kaggle's train.csv"
    )
    src.add_argument(
        "--download",
        type=Path,
        metavar="DIR",
        help="fetch the MNIST files into DIR first (see python -m model.data download) and train on them",
    )
    src.add_argument(
        "--train-limit", type=_positive(int), metavar="N", help="use only the first N training images (default: all)"
    )
    src.add_argument(
        "--validation",
        type=_non_negative(int),
        metavar="N",
        help="training images held out (a seeded random choice) to pick the best epoch "
        f"(default: a sixth of the training images, at most {MAX_VALIDATION:,})",
    )
    src.add_argument(
        "--extra",
        type=feedback.database_argument,
        action="append",
        default=[],
        metavar="FEEDBACK_DB",
        help="also train on the samples people labelled in the web app (DIGITS_FEEDBACK_DB: a SQLite file or a "
        "postgresql:// URL) that were approved "
        "in review (python -m model.feedback review); repeatable (default: none)",
    )
    src.add_argument(
        "--extra-pending",
        action="store_true",
        help="with --extra: the samples still pending review train too; rejected ones never do "
        "(default: approved ones only)",
    )
    src.add_argument(
        "--extra-repeat",
        type=_positive(int),
        default=1,
        metavar="K",
        help="use each --extra sample K times per epoch, so a few hundred drawings weigh against MNIST (default: 1)",
    )


def _add_network_arguments(net: argparse._ArgumentGroup) -> None:
    net.add_argument(
        "--hidden", type=_hidden_sizes, metavar="SIZES", help=f"hidden layer sizes: 15, 100,100 {_default('hidden')}"
    )
    net.add_argument("--cost", choices=COSTS, help=f"and the output layer it goes with {_default('cost')}")
    net.add_argument("--activation", choices=ACTIVATIONS, help=f"of the hidden layers {_default('activation')}")
    net.add_argument(
        "--weight-init",
        choices=INITS,
        help=f"scaled: N(0, g/n_in) weights; classic: N(0, 1) as in the original network.py {_default('weight_init')}",
    )
    net.add_argument("--dtype", choices=DTYPES, help=_default("dtype"))
    # Fine-tuning: the saved network's architecture replaces --hidden, --cost and the rest.
    net.add_argument(
        "--init", type=Path, metavar="WEIGHTS", help="start from these saved weights (fine-tuning; default: none)"
    )


def _add_training_arguments(sgd: argparse._ArgumentGroup) -> None:
    sgd.add_argument("--epochs", type=_positive(int), metavar="N", help=_default("epochs"))
    sgd.add_argument("--batch-size", type=_positive(int), metavar="N", help=_default("batch_size"))
    sgd.add_argument(
        "--eta",
        type=_positive(float),
        metavar="RATE",
        help="learning rate (default: by cost, activation, batch size and momentum, as in the table below)",
    )
    sgd.add_argument("--schedule", choices=SCHEDULES, help=f"learning-rate schedule {_default('schedule')}")
    sgd.add_argument(
        "--lmbda", type=_non_negative(float), metavar="L", help=f"L2 weight decay, scaled by 1/n {_default('lmbda')}"
    )
    sgd.add_argument(
        "--momentum", type=_non_negative(float), metavar="M", help=f"momentum, below 1 {_default('momentum')}"
    )
    sgd.add_argument(
        "--augment",
        choices=["none", *augment.TRANSFORMS],
        help=f"random distortions of the training images each epoch {_default('augment')}",
    )
    sgd.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help=f"seeds the split, initial weights, shuffles and distortions {_default('seed')}",
    )


def _epilog() -> str:
    presets = "\n".join(_preset_help(name, settings) for name, settings in PRESETS.items())
    header = f"  {'mini-batch size:':<24}" + "".join(f"{b:>6}" for b in ETA_BATCHES) * 2
    rates = "\n".join(
        f"  {cost + ', ' + activation:<24}" + "".join(f"{eta:>6g}" for eta in (*without, *with_momentum))
        for (cost, activation), (without, with_momentum) in ETAS.items()
    )
    return f"""\
presets (--preset NAME sets these; options given as well override them):
{presets}

default learning rate (measured by benchmarks/learning_rates.py; other mini-batch sizes take the
nearest column, other momenta a geometric interpolation in 1 - momentum):
  {"":<24}{"without momentum":>18}{f"momentum {ETA_MOMENTUM:g}":>18}
{header}
{rates}

A run whose cost stops being finite, or that still reads its training images at about chance
after its first epoch (of at least 300 mini-batches), stops there with exit status 1 and writes
nothing: try a lower --eta.

After each epoch the run's state is saved in NAME.checkpoint.npz beside --out NAME.npz; NAME.npz
and the other outputs are written only when training has finished, and the checkpoint is then
removed. After Ctrl-C (exit status 130) the same command plus --resume NAME.checkpoint.npz goes
on from the last epoch to the same weights as an unbroken run. Bad arguments exit with status 2,
bad data with status 1.

examples:
  python -m model.train --data ../shared/data/mnist --out runs/first.npz
  python -m model.train --data ../shared/data/mnist --preset digits --out model/digits.npz
  python -m model.train --data ../shared/data/mnist --preset digits --out model/digits.npz \\
      --resume model/digits.checkpoint.npz
  python -m model.train --data train.csv --hidden 100 --activation relu --cost cross-entropy \\
      --epochs 5 --out runs/kaggle.npz
  python -m model.train --data ../shared/data/mnist --init model/digits.npz \\
      --extra instance/feedback.sqlite --extra-repeat 10 --epochs 3 --batch-size 128 --eta 0.01 \\
      --out runs/mine.npz
"""


class UsageError(Exception):
    """Arguments that do not fit the data or the checkpoint: exit status 2, as argparse's."""


class TrainingDiverged(Exception):
    """The learning rate does not suit the run: its cost stopped being finite, or after its first
    epoch (of ``DivergenceGuard.MIN_STEPS`` mini-batches at least) it still reads the training
    images at about chance. The message says which, and the rate to try instead."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer with command-line arguments ``argv``; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_preset(args)
    if (args.kaggle_test is None) != (args.submission is None):
        parser.error("--kaggle-test and --submission go together")
    if args.data is None and args.download is None:
        parser.error("give --data (an MNIST folder or a Kaggle train.csv) or --download DIR")
    if args.out.suffix != ".npz":
        parser.error(f"--out must name an .npz file, got {args.out}")
    if args.momentum >= 1:
        parser.error("--momentum must be below 1")
    missing = _missing_figure_packages()
    if missing:
        print(
            f"error: the trainer draws its figures with matplotlib, and {missing} is not installed: "
            "python -m pip install -r requirements-train.txt",
            file=sys.stderr,
        )
        return 1
    checkpoints = CheckpointFile(path_for(args.out))
    try:
        return _train(args, checkpoints)
    except UsageError as e:
        parser.error(str(e))
    except TrainingDiverged as e:
        checkpoints.remove()
        print(f"error: {e}; nothing was written", file=sys.stderr)
        return 1
    except (data.DataError, WeightsError, CheckpointError, download.DownloadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise  # cli.run ends quietly, as a closed pipe should
    except OSError as e:  # e.g. an --out folder that cannot be written
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        if checkpoints.latest is not None:  # e.g. the disk filled up after some epochs
            print(_resume_advice(argv, checkpoints), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if checkpoints.latest is None:
            print("\ninterrupted: nothing was written; earlier files are unchanged", file=sys.stderr)
        else:
            print(f"\ninterrupted: {args.out} was not written; earlier files are unchanged", file=sys.stderr)
            print(_resume_advice(argv, checkpoints), file=sys.stderr)
        return 130


def _missing_figure_packages() -> str | None:
    """The package the figures need that is not installed, if any: found before minutes of training."""
    try:
        importlib.import_module("model.figures")
    except ModuleNotFoundError as e:
        return e.name
    return None


def _resume_advice(argv: Sequence[str], checkpoints: CheckpointFile) -> str:
    command = shlex.join(["python", "-m", "model.train", *_without_resume(argv), "--resume", str(checkpoints.latest)])
    return f"the run's state after epoch {checkpoints.epoch} is kept in {checkpoints.latest}; resume with:\n{command}"


def _without_resume(argv: Sequence[str]) -> list[str]:
    """``argv`` without any --resume option (argparse also takes --resume=X and abbreviations)."""
    kept, skip = [], False
    for arg in argv:
        option = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif len(option) >= 4 and "--resume".startswith(option):
            skip = "=" not in arg
        else:
            kept.append(arg)
    return kept


def _train(args: argparse.Namespace, checkpoints: CheckpointFile) -> int:
    """The run, step by step: read the inputs, build the network, train, measure, write."""
    say = functools.partial(print, flush=True)
    # A bad checkpoint, weights or feedback file is found before minutes go into reading data.
    resumed = checkpoints.start(args.resume)
    start = Network.load(args.init) if args.init is not None else None
    inputs = load_inputs(args)
    net, state = build_network(args, start)
    eta_is_default = args.eta is None
    if eta_is_default:
        args.eta = default_eta(net.cost, net.activation, args.batch_size, args.momentum)
    config = result_config(args, net, inputs)
    if resumed is not None:
        _check_same_run(resumed.config, config)
        net, state = resumed.network(), resumed.sgd_state()
    say(_network_line(net, args, eta_is_default))
    say(_data_line(inputs, args))
    for line in _left_out_lines(inputs):
        say(line)
    if resumed is not None:
        say(f"resuming from {args.resume} after epoch {len(resumed.history)} of {args.epochs}")
    run = train_network(net, state, inputs, args, say, checkpoints, config, resumed)
    metrics = {**_run_metrics(args, net, inputs, run), "test_accuracy": None}
    mistakes = None
    if inputs.test_set is not None:
        test, mistakes = measure_test_set(net, inputs.test_set, say)
        metrics.update(test)
    write_outputs(net, metrics, mistakes, inputs, args, say)
    checkpoints.remove()
    return 0


class CheckpointFile:
    """The run's checkpoint, ``NAME.checkpoint.npz`` beside ``--out NAME.npz``: written after
    every epoch, removed when the run has finished or diverged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = False  # by this run
        self.latest: Path | None = None  # the checkpoint a resumed run would start from
        self.epoch = 0  # the epochs it holds

    def start(self, resume: Path | None) -> Checkpoint | None:
        """The checkpoint to resume from, read; without one, make sure that this run will not
        overwrite an unfinished run's."""
        if resume is None:
            if self.path.exists():
                raise CheckpointError(
                    self.path,
                    "is the checkpoint of an unfinished run: go on with the same command plus "
                    f"--resume {self.path}, or delete it to start again",
                )
            return None
        checkpoint = Checkpoint.load(resume)
        self.latest, self.epoch = resume, len(checkpoint.history)
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        checkpoint.save(self.path)
        self.written, self.latest, self.epoch = True, self.path, len(checkpoint.history)

    def remove(self) -> None:
        """Delete the run's own checkpoint; one it was resumed from under another name stays."""
        if self.written or self.latest == self.path:
            self.path.unlink(missing_ok=True)
        self.written, self.latest = False, None


# ---------------------------------------------------------------------------------------------
# Inputs and the network
# ---------------------------------------------------------------------------------------------


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
    images: int  # the training images there were to split: after --train-limit, before the split
    validation_is_default: bool  # whether default_validation chose the validation size
    sha256: dict[str, str]  # of every input file, by path
    left_out: dict[Path, dict[str, int]] = field(default_factory=dict)  # --extra samples of other statuses, by status


def load_inputs(args: argparse.Namespace) -> Inputs:
    """Read (and with --download, fetch) the data and split off the validation images, setting
    ``args.validation`` when it was not given; raises ``DataError`` for data that cannot be read
    or used, and ``UsageError`` for a --validation that leaves nothing to train on."""
    statuses = _extra_statuses(args)
    extras = [feedback.read_samples(path, statuses) for path in args.extra]
    left_out = {}
    for extra in extras:
        path = extra.sources[0]
        counts = feedback.status_counts(path)
        left_out[path] = {status: n for status, n in counts.items() if status not in statuses and n}
        if not len(extra):
            raise data.DataError(path, None, _no_extra_samples(path, counts, statuses))
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
    validation_is_default = args.validation is None
    if validation_is_default:
        args.validation = default_validation(len(images))
    elif args.validation >= len(images):
        raise UsageError(f"--validation {args.validation} leaves no training images: there are {len(images):,}")
    train_idx, val_idx = data.split(len(images), args.validation, args.seed)
    # Feedback samples only ever train: validation and test stay MNIST's, so they still measure it.
    repeated = extras * args.extra_repeat
    X = data.to_columns(np.concatenate([images[train_idx], *(e.images for e in repeated)]), args.dtype)
    y = np.concatenate([labels[train_idx], *(e.labels for e in repeated)])
    validation = (data.to_columns(images[val_idx], args.dtype), labels[val_idx]) if len(val_idx) else None
    sha256 = {str(p): _sha256(p) for p in _inputs(train_set, test_set, kaggle_test)}
    return Inputs(
        train_set, test_set, kaggle_test, extras, X, y, validation, len(images), validation_is_default, sha256, left_out
    )


def _extra_statuses(args: argparse.Namespace) -> tuple[str, ...]:
    return (feedback.APPROVED, feedback.PENDING) if args.extra_pending else (feedback.APPROVED,)


def _no_extra_samples(path: Path, counts: dict[str, int], statuses: tuple[str, ...]) -> str:
    if not sum(counts.values()):
        return "has no feedback samples yet"
    message = f"has no {' or '.join(statuses)} feedback samples"
    if counts[feedback.PENDING] and feedback.PENDING not in statuses:
        pending = counts[feedback.PENDING]
        return f"{message}: {pending:,} {'is' if pending == 1 else 'are'} pending review; {_pending_advice(path)}"
    return f"{message} ({counts[feedback.REJECTED]:,} rejected, which never train)"


def _pending_advice(path: Path) -> str:
    return (
        f"see them with {feedback.review_command(path, '--list')} and approve them with --approve IDS or "
        "--approve-all, or train on them unreviewed with --extra-pending"
    )


def _left_out_lines(inputs: Inputs) -> list[str]:
    """A line for each --extra database of which some samples do not train, and what to do about it."""
    lines = []
    for path, counts in inputs.left_out.items():
        if counts.get(feedback.PENDING):
            pending = counts[feedback.PENDING]
            samples = f"{pending:,} feedback sample{'s' * (pending != 1)}"
            lines.append(f"{path}: left out {samples} pending review; {_pending_advice(path)}")
        if counts.get(feedback.REJECTED):
            rejected = counts[feedback.REJECTED]
            lines.append(f"{path}: left out {rejected:,} rejected feedback sample{'s' * (rejected != 1)}")
    return lines


def build_network(args: argparse.Namespace, start: Network | None) -> tuple[Network, SGDState]:
    """The network to train (``start`` when fine-tuning, else a new one as the arguments say)
    and a fresh SGD state.

    One generator seeded with --seed draws a new network's initial weights and then goes on to
    shuffle and distort the training data, so the seed fixes the whole run.
    """
    rng = np.random.default_rng(args.seed)
    if start is not None:
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


def result_config(args: argparse.Namespace, net: Network, inputs: Inputs) -> dict[str, Any]:
    """Everything that decides the weights a run ends with, by option, as JSON values: the
    files by content (SHA-256), not by name, and the settings as the run uses them (the network's
    own architecture when fine-tuning, the learning rate and validation size the rules chose).
    A checkpoint records it, and --resume compares it with the command's."""
    settings = ("epochs", "batch_size", "eta", "schedule", "lmbda", "momentum", "augment", "seed")
    return {
        "--data": _combined_sha256(inputs.sha256[str(p)] for p in inputs.train_set.sources),
        "--train-limit": args.train_limit,
        "--validation": args.validation,
        "--extra": [_samples_sha256(extra) for extra in inputs.extras],
        "--extra-repeat": args.extra_repeat,
        "--init": None if args.init is None else _sha256(args.init),
        "--hidden": net.sizes[1:-1],
        "--cost": net.cost,
        "--activation": net.activation,
        "--weight-init": args.weight_init,
        "--dtype": args.dtype,
        **{"--" + name.replace("_", "-"): getattr(args, name) for name in settings},
    }


def _check_same_run(made_with: dict[str, Any], given: dict[str, Any]) -> None:
    """Raise ``UsageError`` naming every option in which the command differs from the run that
    made the checkpoint."""
    differ = [option for option in {**made_with, **given} if made_with.get(option) != given.get(option)]
    if differ:
        raise UsageError(
            "--resume: the checkpoint was made with "
            + " ".join(_option_text(option, made_with.get(option)) for option in differ)
            + "; this command has "
            + " ".join(_option_text(option, given.get(option)) for option in differ)
        )


def _option_text(option: str, value: Any) -> str:
    if value is None or value == []:
        return f"{option} (none)"
    if option in ("--data", "--init"):
        return f"{option} (SHA-256 {value[:12]}..)"
    if option == "--extra":
        return f"{option} (samples with SHA-256 {', '.join(digest[:12] + '..' for digest in value)})"
    return f"{option} {_shown(value)}"


def _network_line(net: Network, args: argparse.Namespace, eta_is_default: bool) -> str:
    """The run's first line: the network and how it trains, the learning rate's origin included."""
    momentum = f", momentum {args.momentum:g}" if args.momentum else ""
    origin = ""
    if eta_is_default:
        rule = "cost, activation, batch size and momentum" if args.momentum else "cost, activation and batch size"
        origin = f" (the default for this {rule}; --eta sets another)"
    return (
        (f"fine-tuning {args.init}: " if args.init is not None else "")
        + f"network {'-'.join(map(str, net.sizes))} ({net.parameter_count:,} parameters), {net.activation} hidden, "
        f"{net.cost} cost, {net.dtype.name}; {args.epochs:,} epoch{'s' * (args.epochs != 1)} of mini-batches of "
        f"{args.batch_size:,}{momentum}, eta {args.eta:g}{origin}"
    )


def _data_line(inputs: Inputs, args: argparse.Namespace) -> str:
    validation = 0 if inputs.validation is None else len(inputs.validation[1])
    return (
        f"{len(inputs.y):,} training and {validation:,} validation images"
        + (f" (with {sum(map(len, inputs.extras)):,} feedback samples x {args.extra_repeat})" if inputs.extras else "")
        + (f", {len(inputs.test_set):,} test images" if inputs.test_set else "")
        + (
            ""
            if not inputs.validation_is_default
            else f"; validation: a sixth of the {inputs.images:,} training images, at most {MAX_VALIDATION:,} "
            "(the default; --validation sets another)"
        )
    )


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainingRun:
    """What ``train_network`` did."""

    history: list[EpochRecord]
    best_epoch: int  # 1-based; its weights are the network's now
    best_accuracy: float  # its validation accuracy, or its training accuracy without validation
    seconds: float


def train_network(
    net: Network,
    state: SGDState,
    inputs: Inputs,
    args: argparse.Namespace,
    say: Callable[[str], None],
    checkpoints: CheckpointFile,
    config: dict[str, Any],
    resumed: Checkpoint | None = None,
) -> TrainingRun:
    """Train ``net`` as the arguments say (from where ``resumed`` left off, when given), showing
    each epoch and checkpointing after it, and leave it with the weights of its best epoch.

    Raises ``TrainingDiverged`` as soon as the learning rate shows to be too high.
    """
    history = resumed.records() if resumed else []
    best = BestEpoch.of(resumed) if resumed else BestEpoch()
    seconds_before = resumed.seconds if resumed else 0.0
    default = default_eta(net.cost, net.activation, args.batch_size, args.momentum)
    guard = DivergenceGuard(net, state, args.eta, default, (inputs.X, inputs.y))
    progress = EpochProgress(args.epochs, len(inputs.y), say, first=state.epoch + 1)
    started = time.perf_counter()

    def on_batch(done: int, total: int) -> None:
        guard.after_batch()
        progress.update(done, total)

    def on_epoch(record: EpochRecord) -> None:
        progress.epoch_done(record)
        guard.after_epoch(record)
        best.consider(record, net)
        history.append(record)
        seconds = seconds_before + time.perf_counter() - started
        checkpoints.save(Checkpoint.of(net, best.as_tuple(), state, history, seconds, config))

    try:
        # The guard reports a run that blows up; numpy's overflow warnings on the way add nothing.
        with np.errstate(over="ignore", invalid="ignore"):
            net.SGD(
                (inputs.X, inputs.y),
                args.epochs,
                args.batch_size,
                args.eta,
                validation_data=inputs.validation,
                lmbda=args.lmbda,
                momentum=args.momentum,
                schedule=args.schedule,
                transform=augment.TRANSFORMS.get(args.augment),
                on_batch=on_batch,
                on_epoch=on_epoch,
                state=state,
            )
    finally:
        progress.close()
    seconds = seconds_before + time.perf_counter() - started
    net.set_parameters(best.parameters)
    say(
        f"kept epoch {best.epoch} (best {'validation' if inputs.validation else 'training'} accuracy "
        f"{best.accuracy:.2%}); trained in {seconds:,.1f} s"
    )
    return TrainingRun(history, best.epoch, best.accuracy, seconds)


class DivergenceGuard:
    """Stops a run whose learning rate is too high, by raising ``TrainingDiverged``: when its
    cost stops being finite, checked every ``CHECK_EVERY`` mini-batches and at the end of each
    epoch, and when at the end of its first epoch the network reads its training images at under
    twice chance (a blown-up network answers one digit for everything: 10 %).

    A non-finite output makes the last layer's bias gradients, and so its biases, non-finite in
    the same step, and NaN stays NaN, so those ten numbers tell. Checking them takes ~2 us, 4 % of
    the quickest step (784-30-10, mini-batches of 10; benchmarks/train_speed.py has the figures),
    hence only every few steps.

    A network that trains well can still be near chance after a few dozen steps (quadratic cost
    with sigmoid outputs starts slowly), so the accuracy waits for ``MIN_STEPS`` mini-batches:
    the first epoch of 3,000 images at mini-batches of 10, a later one for smaller data sets.
    Every default rate (``ETAS``) reads over 35 % of MNIST's images by then (784-30-10 and
    784-100-10, momentum 0, 0.5 and 0.9).
    """

    FLOOR = 2 / CLASSES
    SAMPLE = 1_000  # training images it reads
    CHECK_EVERY = 8
    MIN_STEPS = 300

    def __init__(
        self, net: Network, state: SGDState, eta: float, default: float, training: tuple[np.ndarray, np.ndarray]
    ) -> None:
        self.net, self.state, self.eta, self.default = net, state, eta, default
        X, y = training
        self.sample = (X[:, : self.SAMPLE], y[: self.SAMPLE])
        self.judged = False  # the accuracy, once

    def after_batch(self) -> None:
        if self.state.step % self.CHECK_EVERY == 0 and not np.isfinite(self.net.biases[-1]).all():
            raise self._diverged(f"the cost became NaN in epoch {self.state.epoch + 1}")

    def after_epoch(self, record: EpochRecord) -> None:
        if not (math.isfinite(record.cost) and all(np.isfinite(p).all() for p in self.net.weights + self.net.biases)):
            raise self._diverged(f"the cost became NaN in epoch {record.epoch}")
        if not self.judged and self.state.step >= self.MIN_STEPS:
            self.judged = True
            accuracy = self.net.evaluate(self.sample) / len(self.sample[1])
            if accuracy < self.FLOOR:
                raise self._diverged(
                    f"after epoch {record.epoch} the network reads {accuracy:.1%} of the training images right, "
                    f"where chance is {1 / CLASSES:.0%}",
                    slow=self.eta < self.default / 3,
                )

    def _diverged(self, what: str, slow: bool = False) -> TrainingDiverged:
        if slow:  # far below the measured rate, a run near chance more likely learns too slowly
            return TrainingDiverged(
                f"training is not learning at eta {self.eta:g} ({what}): a rate this far below the default "
                f"may be too slow: try --eta {self.default:g}"
            )
        return TrainingDiverged(f"training diverged at eta {self.eta:g} ({what}): try --eta {self.eta / 10:g}")


@dataclass
class BestEpoch:
    """The epoch with the best validation accuracy (training accuracy when there is no
    validation set) so far, and a copy of the weights it ended with."""

    accuracy: float = -1.0
    epoch: int = 0
    parameters: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> BestEpoch:
        return cls(checkpoint.best_accuracy, checkpoint.best_epoch, checkpoint.best_parameters)

    def consider(self, record: EpochRecord, net: Network) -> None:
        """Keep ``net``'s weights if the epoch of ``record`` beats the best so far."""
        score = record.validation_accuracy if record.validation_accuracy is not None else record.train_accuracy
        if score > self.accuracy:
            self.accuracy, self.epoch, self.parameters = score, record.epoch, net.parameters()

    def as_tuple(self) -> tuple[int, float, dict[str, np.ndarray]]:
        return self.epoch, self.accuracy, self.parameters


class EpochProgress:
    """A progress bar through each epoch, and one line of figures at its end."""

    def __init__(self, epochs: int, examples: int, say: Callable[[str], None], first: int = 1) -> None:
        self.epochs, self.examples, self.say = epochs, examples, say
        self.bar = ProgressBar(examples, label=f"epoch {first}/{epochs} ")

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


# ---------------------------------------------------------------------------------------------
# Measuring and writing
# ---------------------------------------------------------------------------------------------


def _run_metrics(args: argparse.Namespace, net: Network, inputs: Inputs, run: TrainingRun) -> dict[str, Any]:
    """The metrics file's record of the run: what it was given and how training went."""
    return {
        "config": _config(args, net),
        "history": [r.as_dict() for r in run.history],
        "best_epoch": run.best_epoch,
        "validation_accuracy": run.best_accuracy if inputs.validation else None,
        "seconds_per_epoch": float(np.mean([r.seconds for r in run.history])) if run.history else None,
        "train_seconds": run.seconds,
        "inputs": inputs.sha256,
        # A feedback database changes while the app runs: what was read is recorded, not the file.
        "feedback": [
            {
                "path": str(extra.sources[0]),
                "samples": len(extra),
                "sha256": _samples_sha256(extra),
                "repeat": args.extra_repeat,
                "statuses": list(_extra_statuses(args)),
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
    from model import figures  # matplotlib, from requirements-train.txt: checked by main() before training

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


def _samples_sha256(samples: data.Dataset) -> str:
    """Of the images and labels read from a feedback database, not of the file, which changes
    with every sample the app stores."""
    return hashlib.sha256(samples.images.tobytes() + samples.labels.astype(np.uint8).tobytes()).hexdigest()


def _combined_sha256(digests: Iterable[str]) -> str:
    return hashlib.sha256(" ".join(digests).encode()).hexdigest()


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
