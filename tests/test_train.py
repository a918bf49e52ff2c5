"""The trainer end to end, through main(argv): real MNIST, Kaggle CSVs, default learning rates and
validation, presets, runs that blow up, checkpoints, interruption and --resume, bad input."""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model import cli, data, feedback, train
from model.checkpoint import Checkpoint
from model.network import ACTIVATIONS, COSTS, Network
from scripts.feedback_demo import FINE_TUNE, SHIPPED, give_feedback
from scripts.serve import free_port
from tests.support.datasets import empty_feedback_database, tiny_mnist, write_kaggle_csv
from tests.support.paths import ROOT

SMALL_RUN = [
    "--train-limit",
    "2000",
    "--validation",
    "500",
    "--hidden",
    "100",
    "--activation",
    "relu",
    "--cost",
    "cross-entropy",
    "--epochs",
    "2",
    "--batch-size",
    "20",
    "--eta",
    "0.1",
    "--seed",
    "1",
]


@pytest.mark.mnist
def test_main_trains_on_real_mnist_and_writes_every_output(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run" / "small.npz"
    assert train.main(["--data", str(mnist_dir), *SMALL_RUN, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "epoch 1/2" in printed and "epoch 2/2" in printed and "test accuracy" in printed

    metrics = json.loads((tmp_path / "run" / "small.metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert metrics["validation_accuracy"] > 0.80
    assert metrics["test_accuracy"] > 0.80
    assert np.array(metrics["confusion_matrix"]).sum() == 10_000
    assert len(metrics["per_class_accuracy"]) == 10
    assert metrics["config"]["sizes"] == [784, 100, 10]
    epoch_seconds = [record["seconds"] for record in metrics["history"]]
    assert metrics["seconds_per_epoch"] == pytest.approx(np.mean(epoch_seconds))
    assert 0 < metrics["seconds_per_epoch"] <= metrics["train_seconds"]
    assert set(metrics["inputs"]) == {
        str(p)
        for p in [
            mnist_dir / "train-images-idx3-ubyte.gz",
            mnist_dir / "train-labels-idx1-ubyte.gz",
            mnist_dir / "t10k-images-idx3-ubyte.gz",
            mnist_dir / "t10k-labels-idx1-ubyte.gz",
        ]
    }
    assert all(len(h) == 64 for h in metrics["inputs"].values())

    net = Network.load(out)
    assert net.sizes == [784, 100, 10] and net.activation == "relu" and net.cost == "cross-entropy"
    assert net.metadata["test_accuracy"] == metrics["test_accuracy"]
    # The kept weights are those of the best validation epoch, and score what the metrics say.
    _, test = data.load(mnist_dir)
    assert net.evaluate((data.to_columns(test.images), test.labels)) / 10_000 == pytest.approx(metrics["test_accuracy"])
    best = max(metrics["history"], key=lambda r: r["validation_accuracy"])
    assert metrics["best_epoch"] == best["epoch"]

    for kind in ("curves", "confusion", "mistakes"):
        with Image.open(tmp_path / "run" / f"small.{kind}.png") as image:
            assert image.format == "PNG" and image.width > 100
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "small.confusion.png",
        "small.curves.png",
        "small.metrics.json",
        "small.mistakes.png",
        "small.npz",
    ]


@pytest.mark.mnist
def test_same_seed_gives_identical_weights(mnist_dir, tmp_path):
    args = [
        "--data",
        str(mnist_dir),
        "--train-limit",
        "600",
        "--validation",
        "100",
        "--hidden",
        "20",
        "--epochs",
        "1",
        "--augment",
        "shift",
        "--seed",
        "3",
    ]
    assert train.main([*args, "--out", str(tmp_path / "a.npz")]) == 0
    assert train.main([*args, "--out", str(tmp_path / "b.npz")]) == 0
    a, b = Network.load(tmp_path / "a.npz"), Network.load(tmp_path / "b.npz")
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.mnist
def test_kaggle_path_writes_a_submission(mnist_dir, tmp_path, capsys):
    train_set, test_set = data.load(mnist_dir)
    write_kaggle_csv(tmp_path / "train.csv", train_set.images[:1500], train_set.labels[:1500])
    write_kaggle_csv(tmp_path / "test.csv", test_set.images[:300])
    out, submission = tmp_path / "kaggle.npz", tmp_path / "submission.csv"
    status = train.main(
        [
            "--data",
            str(tmp_path / "train.csv"),
            "--validation",
            "300",
            "--hidden",
            "50",
            "--activation",
            "relu",
            "--cost",
            "cross-entropy",
            "--epochs",
            "3",
            "--eta",
            "0.1",
            "--batch-size",
            "20",
            "--kaggle-test",
            str(tmp_path / "test.csv"),
            "--submission",
            str(submission),
            "--out",
            str(out),
        ]
    )
    assert status == 0
    rows = list(csv.reader(submission.open()))
    assert rows[0] == ["ImageId", "Label"]
    assert len(rows) == 301
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 301))
    labels = np.array([int(r[1]) for r in rows[1:]])
    assert set(labels) <= set(range(10))
    # The submission is the saved network's answers, and they are mostly right.
    np.testing.assert_array_equal(labels, Network.load(out).predict(data.to_columns(test_set.images[:300])))
    assert np.mean(labels == test_set.labels[:300]) > 0.75
    metrics = json.loads((tmp_path / "kaggle.metrics.json").read_text())
    assert metrics["test_accuracy"] is None  # Kaggle's test.csv has no labels
    assert "wrote" in capsys.readouterr().out


def test_interrupted_run_leaves_previous_weights_byte_identical(tmp_path, monkeypatch, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    out = tmp_path / "net.npz"
    args = ["--data", str(folder), "--validation", "50", "--hidden", "10", "--epochs", "2", "--out", str(out)]
    assert train.main(args) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    calls = {"n": 0}
    real_update = Network.update_mini_batch

    def interrupted(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 30:  # Ctrl-C in the middle of the second epoch
            raise KeyboardInterrupt
        return real_update(self, *a, **k)

    monkeypatch.setattr(Network, "update_mini_batch", interrupted)
    capsys.readouterr()
    assert train.main([*args[:-2], "--seed", "9", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"interrupted: {out} was not written; earlier files are unchanged" in err
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    # The first epoch's checkpoint is kept, and the earlier files are as they were.
    assert after.pop("net.checkpoint.npz")
    assert after == before
    assert f"the run's state after epoch 1 is kept in {tmp_path / 'net.checkpoint.npz'}; resume with:" in err


def test_interrupt_while_saving_leaves_previous_weights_byte_identical(tmp_path, monkeypatch):
    folder = tiny_mnist(tmp_path / "mnist")
    out = tmp_path / "net.npz"
    args = ["--data", str(folder), "--validation", "50", "--hidden", "10", "--epochs", "1", "--out", str(out)]
    assert train.main(args) == 0
    before = out.read_bytes()

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    assert train.main([*args[:-2], "--seed", "4", "--out", str(out)]) == 130
    assert out.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_fine_tuning_starts_from_saved_weights(tmp_path, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    base = ["--data", str(folder), "--validation", "50", "--epochs", "1"]
    assert train.main([*base, "--hidden", "12", "--out", str(first)]) == 0
    assert train.main([*base, "--init", str(first), "--eta", "0.5", "--out", str(second)]) == 0
    assert "fine-tuning" in capsys.readouterr().out
    tuned = Network.load(second)
    assert tuned.sizes == [784, 12, 10]
    assert not np.array_equal(tuned.weights[0], Network.load(first).weights[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hidden", "15,x"], "comma-separated layer sizes"),
        (["--hidden", "0"], "must be positive"),
        (["--epochs", "0"], "must be positive"),
        (["--eta", "-1"], "must be positive"),
        (["--lmbda", "nan"], "must be zero or more"),
        (["--cost", "hinge"], "invalid choice"),
        (["--momentum", "1.5"], "momentum must be below 1"),
        (["--kaggle-test", "test.csv"], "go together"),
        (["--out", "weights.txt"], "must name an .npz file"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys, args, message):
    base = {"--data": str(tmp_path), "--out": str(tmp_path / "w.npz")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [x for kv in base.items() for x in kv]
    with pytest.raises(SystemExit) as info:
        train.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_no_data_given(capsys):
    with pytest.raises(SystemExit) as info:
        train.main(["--out", "x.npz"])
    assert info.value.code == 2
    assert "give --data" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        (lambda d: None, [], "no such file"),
        (lambda d: (tiny_mnist(d), (d / "train-images-idx3-ubyte").write_bytes(b"garbage!")), [], "bad magic number"),
        (tiny_mnist, ["--init", "missing.npz"], "missing.npz: no such file"),
    ],
)
def test_bad_data_exits_1_with_one_clear_line(tmp_path, capsys, setup, extra, message):
    folder = tmp_path / "mnist"
    folder.mkdir()
    setup(folder)
    status = train.main(["--data", str(folder), "--epochs", "1", "--out", str(tmp_path / "w.npz"), *extra])
    err = capsys.readouterr().err
    assert status == 1
    assert message in err and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "w.npz").exists()


@pytest.mark.mnist
def test_download_then_train(tmp_path, serve, mnist_bytes, monkeypatch, capsys):
    mirror = serve(mnist_bytes)
    monkeypatch.setenv("DIGITS_MNIST_MIRRORS", mirror.url)
    folder, out = tmp_path / "fetched", tmp_path / "net.npz"
    args = [
        "--download",
        str(folder),
        "--train-limit",
        "1000",
        "--validation",
        "200",
        "--epochs",
        "1",
        "--out",
        str(out),
    ]
    assert train.main(args) == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(mnist_bytes)
    assert Network.load(out).metadata["test_accuracy"] > 0.5
    assert "test accuracy" in capsys.readouterr().out


def test_failed_download_exits_1_and_writes_nothing(tmp_path, dead_url, monkeypatch, capsys):
    monkeypatch.setenv("DIGITS_MNIST_MIRRORS", dead_url)
    out = tmp_path / "net.npz"
    assert train.main(["--download", str(tmp_path / "fetched"), "--epochs", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and dead_url in err and "Traceback" not in err
    assert not out.exists()


# -- --extra: people's own handwriting, from the web app's feedback database ---------------------------


@pytest.mark.mnist
def test_fine_tuning_on_feedback_learns_a_confusing_style(mnist_dir, tmp_path, capsys):
    """Someone who writes their 3s mirrored (like an epsilon, which the shipped model reads as 8 or
    5) confirms 100 of them as 3s; a short fine-tune on MNIST plus those samples reads them, and
    most unseen mirrored 3s, as 3, while MNIST test accuracy drops by at most 0.3 points."""
    train_set, test_set = data.load(mnist_dir)
    mirrored_threes = train_set.images[train_set.labels == 3][:100, :, ::-1]
    database = tmp_path / "feedback.sqlite"
    assert give_feedback(database, mirrored_threes, 3) <= 10
    assert feedback.FeedbackStore(database).approve_all() == 100

    shipped = Network.load(SHIPPED)
    out = tmp_path / "mine.npz"
    args = ["--data", str(mnist_dir), "--init", str(SHIPPED), "--extra", str(database), *FINE_TUNE, "--out", str(out)]
    assert train.main(args) == 0
    assert "with 100 feedback samples x 10" in capsys.readouterr().out
    tuned = Network.load(out)
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["config"]["extra"] == [str(database)]
    [record] = metrics["feedback"]
    assert (record["path"], record["samples"], record["repeat"], record["statuses"]) == (
        str(database),
        100,
        10,
        ["approved"],
    )

    stored = feedback.read_samples(database)
    assert np.mean(tuned.predict(data.to_columns(stored.images)) == 3) >= 0.95
    unseen = test_set.images[test_set.labels == 3][:, :, ::-1]
    assert np.mean(shipped.predict(data.to_columns(unseen)) == 3) < 0.05
    assert np.mean(tuned.predict(data.to_columns(unseen)) == 3) >= 0.5
    X_test = data.to_columns(test_set.images)
    before = shipped.evaluate((X_test, test_set.labels)) / len(test_set)
    after = tuned.evaluate((X_test, test_set.labels)) / len(test_set)
    assert after == pytest.approx(metrics["test_accuracy"])
    assert before - after <= 0.003, f"MNIST test accuracy fell from {before:.2%} to {after:.2%}"


def stored_with_statuses(database: Path, *statuses: str) -> Path:
    """A feedback database with one all-white sample of each of ``statuses``."""
    store = feedback.FeedbackStore(database)
    for k, status in enumerate(statuses):
        store.set_status([store.add(f"s{k}", np.full((28, 28), 255, np.uint8), 1, "digits", 8)], status)
    return database


@pytest.mark.parametrize(
    ("setup", "options", "message"),
    [
        (lambda path: None, [], "no such feedback database"),
        (lambda path: path.write_bytes(b"SQLite format 2\0" * 64), [], "cannot read it as a feedback database"),
        (empty_feedback_database, [], "has no feedback samples yet"),
        (
            lambda path: stored_with_statuses(path, "pending", "pending", "rejected"),
            [],
            "has no approved feedback samples: 2 are pending review; see them with python -m model.feedback review "
            "{database} --list and approve them with --approve IDS or --approve-all, or train on them unreviewed "
            "with --extra-pending",
        ),
        (
            lambda path: stored_with_statuses(path, "rejected"),
            [],
            "has no approved feedback samples (1 rejected, which never train)",
        ),
        (
            lambda path: stored_with_statuses(path, "rejected", "rejected"),
            ["--extra-pending"],
            "has no approved or pending feedback samples (2 rejected, which never train)",
        ),
    ],
    ids=["missing", "not-a-database", "empty", "only-pending", "only-rejected", "only-rejected-with-pending"],
)
def test_bad_extra_exits_1_with_one_clear_line(tmp_path, capsys, setup, options, message):
    folder = tiny_mnist(tmp_path / "mnist")
    database = tmp_path / "feedback.sqlite"
    setup(database)
    argv = ["--data", str(folder), "--extra", str(database), *options, "--out", str(tmp_path / "w.npz")]
    status = train.main(argv)
    err = capsys.readouterr().err
    assert status == 1
    assert message.format(database=database) in err and str(database) in err and err.count("\n") == 1
    assert not (tmp_path / "w.npz").exists()


def test_an_extra_url_of_another_scheme_exits_2_and_an_unreachable_server_1(tmp_path, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    argv = ["--data", str(folder), "--out", str(tmp_path / "w.npz")]
    with pytest.raises(SystemExit) as exit_:
        train.main([*argv, "--extra", "mysql://me@127.0.0.1/digits"])
    assert exit_.value.code == 2
    assert "mysql:// is not a feedback database this app can use" in capsys.readouterr().err
    unreachable = f"postgresql://me:hunter22@127.0.0.1:{free_port()}/digits"
    assert train.main([*argv, "--extra", unreachable]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: postgresql://me:***@127.0.0.1:") and err.count("\n") == 1
    assert "cannot reach the feedback database within 2 s" in err
    assert "hunter22" not in err
    assert not (tmp_path / "w.npz").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_extra_samples_train_but_never_validate(tmp_path, capsys, monkeypatch, request, backend):
    """Feedback samples join the training images, each --extra-repeat times with the label the
    person gave; the validation images stay MNIST's alone. From either backend's database."""
    folder = tiny_mnist(tmp_path / "mnist")
    if backend == "sqlite":
        database = tmp_path / "feedback.sqlite"
    else:
        database = request.getfixturevalue("postgres").new_database()
    store = feedback.open_store(database)
    for k in range(7):  # all-white images: nothing like tiny_mnist's bars
        store.add(f"s{k}", np.full((28, 28), 255, np.uint8), 1, "digits", 8)
    store.approve_all()
    seen = {}
    real_sgd = Network.SGD

    def watched(self, training_data, *args, validation_data=None, **kwargs):
        seen.update(training=training_data, validation=validation_data)
        return real_sgd(self, training_data, *args, validation_data=validation_data, **kwargs)

    monkeypatch.setattr(Network, "SGD", watched)
    out = tmp_path / "w.npz"
    argv = ["--data", str(folder), "--validation", "50", "--hidden", "10", "--epochs", "1"]
    assert train.main([*argv, "--extra", str(database), "--extra-repeat", "3", "--out", str(out)]) == 0
    assert "271 training and 50 validation images (with 7 feedback samples x 3)" in capsys.readouterr().out

    (X, y), (X_val, _) = seen["training"], seen["validation"]
    white = np.all(X == 1, axis=0)
    assert X.shape == (784, 271) and white.sum() == 21
    assert (y[white] == 8).all()
    assert not np.all(X_val == 1, axis=0).any()


@pytest.mark.parametrize("pending_too", [False, True], ids=["approved", "extra-pending"])
def test_extra_takes_approved_samples_and_says_what_it_left_out(tmp_path, capsys, monkeypatch, pending_too):
    """Approved samples train; pending ones only with --extra-pending, and otherwise the run says
    how many it left out and how to approve them; rejected ones never. Each status has its own
    grey level and label, so the training columns show which came in."""
    folder = tiny_mnist(tmp_path / "mnist")
    database = tmp_path / "feedback.sqlite"
    store = feedback.FeedbackStore(database)
    kinds = {"approved": (255, 8, 4), "pending": (170, 6, 3), "rejected": (85, 2, 2)}  # grey, label, how many
    for status, (grey, label, count) in kinds.items():
        for k in range(count):
            row = store.add(f"{status}{k}", np.full((28, 28), grey, np.uint8), 1, "digits", label)
            store.set_status([row], status)
    seen = {}
    real_sgd = Network.SGD

    def watched(self, training_data, *args, **kwargs):
        seen["training"] = training_data
        return real_sgd(self, training_data, *args, **kwargs)

    monkeypatch.setattr(Network, "SGD", watched)
    out = tmp_path / "w.npz"
    argv = ["--data", str(folder), "--validation", "50", "--hidden", "10", "--epochs", "1", "--extra", str(database)]
    assert train.main([*argv, *(["--extra-pending"] if pending_too else []), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    X, y = seen["training"]
    columns = {status: np.all(np.isclose(X, grey / 255), axis=0) for status, (grey, _, _) in kinds.items()}
    assert columns["approved"].sum() == 4 and (y[columns["approved"]] == 8).all()
    assert columns["pending"].sum() == (3 if pending_too else 0) and (y[columns["pending"]] == 6).all()
    assert columns["rejected"].sum() == 0
    samples = 7 if pending_too else 4
    assert f"{250 + samples} training and 50 validation images (with {samples} feedback samples x 1)" in printed
    advice = (
        f"{database}: left out 3 feedback samples pending review; see them with python -m model.feedback review "
        f"{database} --list and approve them with --approve IDS or --approve-all, or train on them unreviewed "
        "with --extra-pending\n"
    )
    assert (advice in printed) == (not pending_too)
    assert f"{database}: left out 2 rejected feedback samples\n" in printed
    [record] = json.loads(out.with_suffix(".metrics.json").read_text())["feedback"]
    assert (record["samples"], record["statuses"]) == (
        samples,
        ["approved", "pending"] if pending_too else ["approved"],
    )


# -- defaults that work the first time: the learning rate, the validation split, presets, help --------


def test_every_cost_and_activation_has_a_measured_default_rate():
    assert set(train.ETAS) == set(itertools.product(COSTS, ACTIVATIONS))
    assert all(len(rates) == len(train.ETA_BATCHES) for pair in train.ETAS.values() for rates in pair)


@pytest.mark.parametrize(
    ("cost", "activation", "batch", "momentum", "eta"),
    [
        ("quadratic", "sigmoid", 10, 0.0, 3.0),  # the classic network.py's rate, where it measured best
        ("quadratic", "sigmoid", 128, 0.0, 1.0),
        ("cross-entropy", "relu", 10, 0.0, 0.1),  # the issue's configuration, which eta 3 blew up
        ("cross-entropy", "relu", 128, 0.0, 0.3),
        ("cross-entropy", "relu", 128, 0.9, 0.1),  # measured with momentum: the README's digits model's rate
        ("cross-entropy", "relu", 10, 0.9, 0.01),  # momentum 0.9 makes each step ~10 times longer
        ("quadratic", "relu", 1, 0.0, 0.3),  # below the measured sizes: the nearest, 10
        ("cross-entropy", "relu", 20, 0.0, 0.3),  # nearer 32 than 10 on a log scale
        ("cross-entropy", "sigmoid", 4096, 0.0, 1.0),
        ("quadratic", "relu", 10, 0.5, 0.15),  # between 0 and 0.9: momentum 0.5 doubles the step, 0.9 ten-folds it
    ],
)
def test_the_default_learning_rate_depends_on_the_configuration(cost, activation, batch, momentum, eta):
    assert train.default_eta(cost, activation, batch, momentum) == eta


def test_the_first_line_gives_the_learning_rate_and_where_it_came_from(tmp_path, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    argv = ["--data", str(folder), "--hidden", "10", "--epochs", "1", "--activation", "relu", "--cost", "cross-entropy"]
    assert train.main([*argv, "--out", str(tmp_path / "default.npz")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(
        "relu hidden, cross-entropy cost, float32; 1 epoch of mini-batches of 10, eta 0.1 (the default for this "
        "cost, activation and batch size; --eta sets another)"
    )
    assert json.loads((tmp_path / "default.metrics.json").read_text())["config"]["eta"] == 0.1

    assert train.main([*argv, "--eta", "0.05", "--out", str(tmp_path / "given.npz")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("; 1 epoch of mini-batches of 10, eta 0.05")


@pytest.mark.parametrize(("rows", "validation"), [(3_000, 500), (6_000, 1_000), (90_000, 10_000)])
def test_validation_defaults_to_a_sixth_of_the_images_at_most_10000(rows, validation):
    assert train.default_validation(rows) == validation


@pytest.mark.parametrize("rows", [3_000, 6_000])
def test_a_small_kaggle_csv_trains_with_the_default_validation(tmp_path, capsys, rows):
    """The issue's 3,000- and 6,000-row train.csv were refused: --validation 10000 left no images."""
    images = data.load(tiny_mnist(tmp_path / "mnist", n=rows))[0]
    write_kaggle_csv(tmp_path / "train.csv", images.images, images.labels)
    out = tmp_path / "kaggle.npz"
    argv = ["--data", str(tmp_path / "train.csv"), "--hidden", "10", "--epochs", "1", "--out", str(out)]
    assert train.main(argv) == 0
    held_out = rows // 6
    assert (
        f"{rows - held_out:,} training and {held_out:,} validation images; validation: a sixth of the {rows:,} "
        "training images, at most 10,000 (the default" in capsys.readouterr().out
    )
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["config"]["validation"] == held_out
    assert metrics["validation_accuracy"] > 0.9  # the bars are easy: far above a collapsed run's 10 %


@pytest.mark.mnist
def test_the_issues_kaggle_command_works_with_the_defaults(mnist_dir, tmp_path):
    """``--data train.csv --hidden 100 --activation relu --cost cross-entropy --epochs 5`` read every
    digit as 1 at the old default eta 3.0 (11 %); --eta 0.1 reached 95.8 % on the whole train.csv."""
    train_set, _ = data.load(mnist_dir)
    write_kaggle_csv(tmp_path / "train.csv", train_set.images[:3_000], train_set.labels[:3_000])
    out = tmp_path / "kaggle.npz"
    issue = ["--hidden", "100", "--activation", "relu", "--cost", "cross-entropy", "--epochs", "5"]
    assert train.main(["--data", str(tmp_path / "train.csv"), *issue, "--out", str(out)]) == 0
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    # 2,500 training images, not 42,000: well below 95.8 %, and far above chance.
    assert metrics["validation_accuracy"] > 0.85


def test_a_validation_that_leaves_no_training_images_is_a_usage_error(tmp_path, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    with pytest.raises(SystemExit) as info:
        train.main(["--data", str(folder), "--validation", "300", "--out", str(tmp_path / "w.npz")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m model.train")
    assert "error: --validation 300 leaves no training images: there are 300" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist"]


# The README's commands for its three models ("Results"), without --data and --out.
README_COMMANDS = {
    "seed": "--hidden 15 --cost quadratic --activation sigmoid --weight-init classic --epochs 30 --batch-size 10 "
    "--eta 3.0 --seed 0",
    "classic": "--hidden 30 --cost quadratic --activation sigmoid --weight-init classic --epochs 30 --batch-size 10 "
    "--eta 3.0 --seed 0",
    "digits": "--hidden 800,800 --activation relu --cost cross-entropy --epochs 60 --batch-size 128 --eta 0.1 "
    "--momentum 0.9 --schedule cosine --lmbda 5 --augment elastic --validation 5000 --seed 1",
}


@pytest.mark.parametrize("preset", README_COMMANDS)
def test_a_preset_trains_exactly_as_its_readme_command(tmp_path, preset):
    folder = tiny_mnist(tmp_path / "mnist", n=400)
    # Shortened the same way both times; an option given with a preset wins over the preset's.
    short = ["--epochs", "1", "--validation", "50"]
    by_name, spelled = tmp_path / "preset.npz", tmp_path / "spelled.npz"
    assert train.main(["--data", str(folder), "--preset", preset, *short, "--out", str(by_name)]) == 0
    assert train.main(["--data", str(folder), *README_COMMANDS[preset].split(), *short, "--out", str(spelled)]) == 0
    a, b = Network.load(by_name), Network.load(spelled)
    assert a.sizes == b.sizes and len(a.weights) == len(b.weights)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert np.array_equal(x, y)
    config = json.loads(by_name.with_suffix(".metrics.json").read_text())["config"]
    assert (config["epochs"], config["validation"], config["preset"]) == (1, 50, preset)


def test_a_preset_fills_in_only_what_the_command_leaves_out():
    args = train.build_parser().parse_args(["--preset", "digits", "--eta", "0.05", "--out", "x.npz"])
    train.apply_preset(args)
    assert (args.eta, args.hidden, args.validation, args.momentum) == (0.05, [800, 800], 5_000, 0.9)
    assert (args.weight_init, args.dtype) == ("scaled", "float32")  # not in the command: the defaults'
    plain = train.build_parser().parse_args(["--out", "x.npz"])
    train.apply_preset(plain)
    assert (plain.hidden, plain.cost, plain.eta, plain.validation) == ([30], "quadratic", None, None)


def test_help_shows_every_default_the_presets_and_examples(capsys):
    with pytest.raises(SystemExit) as info:
        train.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    options = text.split("\noptions:\n")[1].split("\npresets")[0]
    # Each option's entry runs from its line to the next option's, flattened.
    entries = {block.split()[0]: " ".join(block.split()) for block in re.split(r"\n(?=  -)", options)}
    for option, default in [
        ("--hidden", "30"),
        ("--cost", "quadratic"),
        ("--activation", "sigmoid"),
        ("--weight-init", "scaled"),
        ("--dtype", "float32"),
        ("--epochs", "30"),
        ("--batch-size", "10"),
        ("--schedule", "constant"),
        ("--lmbda", "0"),
        ("--momentum", "0"),
        ("--augment", "none"),
        ("--seed", "0"),
        ("--extra-repeat", "1"),
        ("--train-limit", "all"),
        ("--validation", "a sixth of the training images, at most 10,000"),
        ("--eta", "by cost, activation, batch size and momentum, as in the table below"),
    ]:
        assert f"(default: {default})" in entries[option], entries[option]
    flat = " ".join(text.split())
    assert "digits --hidden 800,800 --activation relu" in flat
    assert "cross-entropy, relu 0.1 0.3 0.3" in flat
    assert "examples: python -m model.train --data" in flat
    assert "``" not in text


# -- a learning rate that blows up ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "eta", "why"),
    [
        # Sigmoid outputs saturate: the network answers one digit for everything. It is judged
        # once it has had 300 mini-batches: in epoch 12 of 25 mini-batches each.
        (["--eta", "300", "--epochs", "15"], "300", "after epoch 12 the network reads"),
        # ReLU layers overflow, and the softmax of infinities is NaN.
        (
            ["--activation", "relu", "--cost", "cross-entropy", "--eta", "1e30"],
            "1e+30",
            "the cost became NaN in epoch 1",
        ),
    ],
)
def test_a_learning_rate_that_blows_up_stops_the_run_and_writes_nothing(tmp_path, capsys, flags, eta, why):
    folder = tiny_mnist(tmp_path / "mnist")
    out = tmp_path / "run" / "w.npz"
    status = train.main(["--data", str(folder), "--hidden", "10", "--epochs", "3", *flags, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    [line] = err.splitlines()
    assert line.startswith(f"error: training diverged at eta {eta} ({why}")
    assert line.endswith(f"): try --eta {float(eta) / 10:g}; nothing was written")
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no weights, no checkpoint


def test_a_rate_far_below_the_default_that_does_not_learn_is_told_to_go_higher(tmp_path, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    argv = ["--data", str(folder), "--hidden", "10", "--epochs", "15", "--eta", "0.0001"]
    assert train.main([*argv, "--out", str(tmp_path / "w.npz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: training is not learning at eta 0.0001 (after epoch 12 the network reads ")
    assert err.endswith(
        "of the training images right, where chance is 10%): a rate this far below the default may be too slow: "
        "try --eta 3; nothing was written\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist"]


def test_a_run_that_diverges_after_a_checkpoint_removes_it(tmp_path, monkeypatch, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    out = tmp_path / "net.npz"
    checkpoint = tmp_path / "net.checkpoint.npz"
    calls, seen = {"n": 0}, []
    real_update = Network.update_mini_batch

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 30:  # in the second epoch, after the first one's checkpoint
            seen.append(checkpoint.exists())
            self.biases[-1][3] = np.nan  # what an overflow in the forward pass leads to
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(Network, "update_mini_batch", poisoned)
    status = train.main(["--data", str(folder), "--validation", "50", "--hidden", "10", "--out", str(out)])
    assert status == 1
    assert "(the cost became NaN in epoch 2): try --eta 0.3; nothing was written" in capsys.readouterr().err
    assert seen == [True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist"]


# -- checkpoints and --resume -----------------------------------------------------------------------


def test_a_checkpoint_is_written_after_every_epoch_and_removed_at_the_end(tmp_path, monkeypatch):
    folder = tiny_mnist(tmp_path / "mnist")
    out = tmp_path / "net.npz"
    written = []
    real_save = Checkpoint.save

    def watched(self, path):
        real_save(self, path)
        saved = Checkpoint.load(path)
        written.append((Path(path).name, len(saved.history), saved.best_epoch, out.exists()))

    monkeypatch.setattr(Checkpoint, "save", watched)
    argv = ["--data", str(folder), "--validation", "50", "--hidden", "10", "--epochs", "3", "--out", str(out)]
    assert train.main(argv) == 0
    assert [(name, epochs, done) for name, epochs, _, done in written] == [
        ("net.checkpoint.npz", 1, False),
        ("net.checkpoint.npz", 2, False),
        ("net.checkpoint.npz", 3, False),
    ]
    assert all(1 <= best <= epochs for _, epochs, best, _ in written)
    assert out.exists() and not (tmp_path / "net.checkpoint.npz").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_ctrl_c_after_a_checkpoint_then_resume_ends_with_the_weights_of_an_unbroken_run(tmp_path):
    folder = tiny_mnist(tmp_path / "mnist", n=3_000)
    # Momentum, a cosine schedule and weight decay: the velocities, the epoch count and the
    # shuffling generator a checkpoint carries all change the weights.
    argv = ["--data", str(folder), "--hidden", "50", "--activation", "relu", "--cost", "cross-entropy"]
    argv += ["--epochs", "12", "--momentum", "0.5", "--schedule", "cosine", "--lmbda", "1", "--seed", "5"]
    # One BLAS thread in all three runs: the same arithmetic, and many times quicker at these sizes
    # on a busy machine.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = tmp_path / "broken" / "net.npz"
    checkpoint = out.with_name("net.checkpoint.npz")
    process = subprocess.Popen(
        [sys.executable, "-m", "model.train", *argv, "--out", str(out)],
        cwd=ROOT,
        env=env,
        # Ctrl-C as in a terminal: a shell starts background jobs with SIGINT ignored, and the
        # child would inherit that (Python then never raises KeyboardInterrupt and the run ends 0).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert f"interrupted: {out} was not written; earlier files are unchanged" in err
    epochs = int(err.split("the run's state after epoch ")[1].split()[0])
    assert 1 <= epochs < 12
    advice = err.splitlines()[-1]
    assert shlex.split(advice) == ["python", "-m", "model.train", *argv, "--out", str(out), "--resume", str(checkpoint)]
    assert not out.exists() and checkpoint.exists()

    def run(command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    resumed = run(shlex.split(advice)[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {checkpoint} after epoch {epochs} of 12" in resumed.stdout
    assert out.exists() and not checkpoint.exists()
    unbroken = tmp_path / "unbroken" / "net.npz"
    assert run(["-m", "model.train", *argv, "--out", str(unbroken)]).returncode == 0

    a, b = Network.load(out), Network.load(unbroken)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert np.array_equal(x, y)
    # Every epoch went the same way, not only the one whose weights were kept.
    histories = [json.loads(p.with_suffix(".metrics.json").read_text())["history"] for p in (out, unbroken)]
    fields = ("epoch", "eta", "cost", "train_accuracy", "validation_accuracy")
    assert [[r[f] for f in fields] for r in histories[0]] == [[r[f] for f in fields] for r in histories[1]]
    assert len(histories[0]) == 12


def interrupted_run(argv: list[str], monkeypatch) -> None:
    """Run the trainer with ``argv`` and Ctrl-C in its second epoch (of 25 mini-batches)."""
    calls = {"n": 0}
    real_update = Network.update_mini_batch

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real_update(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Network, "update_mini_batch", interrupted)
        assert train.main(argv) == 130


def three_samples(database: Path, k: int = 3) -> Path:
    store = feedback.FeedbackStore(database)
    for i in range(k):
        store.add(f"s{i}", np.full((28, 28), 255, np.uint8), 1, "digits", 8)
    store.approve_all()
    return database


def test_resume_refuses_a_command_that_would_train_differently(tmp_path, monkeypatch, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    same, other = three_samples(tmp_path / "a.sqlite"), three_samples(tmp_path / "b.sqlite", k=4)
    out = tmp_path / "net.npz"
    checkpoint = tmp_path / "net.checkpoint.npz"
    argv = ["--data", str(folder), "--validation", "50", "--epochs", "3", "--out", str(out)]
    interrupted_run([*argv, "--hidden", "10", "--extra", str(same)], monkeypatch)
    kept = checkpoint.read_bytes()
    capsys.readouterr()

    with pytest.raises(SystemExit) as info:
        train.main([*argv, "--hidden", "12", "--eta", "0.5", "--extra", str(other), "--resume", str(checkpoint)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    made_with, given = err.split("error: --resume: the checkpoint was made with ")[1].split("; this command has ")
    assert made_with.startswith("--extra (samples with SHA-256 ") and made_with.endswith("..) --hidden 10 --eta 3")
    assert given.startswith("--extra (samples with SHA-256 ") and given.endswith("..) --hidden 12 --eta 0.5\n")
    assert made_with.split(")")[0] != given.split(")")[0]
    assert checkpoint.read_bytes() == kept and not out.exists()

    # The same samples from another file are the same run: the files are compared by content.
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(same.read_bytes())
    assert train.main([*argv, "--hidden", "10", "--extra", str(copy), "--resume", str(checkpoint)]) == 0
    assert out.exists() and not checkpoint.exists()


def test_a_new_run_does_not_overwrite_an_unfinished_runs_checkpoint(tmp_path, monkeypatch, capsys):
    folder = tiny_mnist(tmp_path / "mnist")
    argv = ["--data", str(folder), "--validation", "50", "--hidden", "10", "--out", str(tmp_path / "net.npz")]
    interrupted_run(argv, monkeypatch)
    checkpoint = tmp_path / "net.checkpoint.npz"
    kept = checkpoint.read_bytes()
    capsys.readouterr()
    assert train.main(argv) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: {checkpoint}: is the checkpoint of an unfinished run: go on with the same command plus "
        f"--resume {checkpoint}, or delete it to start again\n"
    )
    assert checkpoint.read_bytes() == kept


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: None, "no such file"),
        (lambda path: path.write_bytes(b"not a zip file"), "is truncated or not an .npz file"),
        (lambda path: Network([784, 10, 10], seed=0).save(path), "is not a training checkpoint"),
    ],
    ids=["missing", "not-npz", "weights"],
)
def test_a_bad_checkpoint_exits_1_before_reading_any_data(tmp_path, capsys, make, message):
    checkpoint = tmp_path / "net.checkpoint.npz"
    make(checkpoint)
    argv = ["--data", str(tmp_path / "no-such-data"), "--resume", str(checkpoint), "--out", str(tmp_path / "net.npz")]
    assert train.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {checkpoint}: {message}") and err.count("\n") == 1


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """``python -m model.train ... | head -2`` once head has gone: exit status 141, no traceback."""
    folder = tiny_mnist(tmp_path / "mnist")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        argv = ["--data", str(folder), "--hidden", "10", "--epochs", "1", "--out", str(tmp_path / "run" / "w.npz")]
        result = subprocess.run(
            [sys.executable, "-m", "model.train", *argv], cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (cli.BROKEN_PIPE_STATUS, "")
    assert not (tmp_path / "run").exists()


def test_without_matplotlib_the_trainer_says_what_to_install(tmp_path):
    """The app's lock has no matplotlib: --help still works, and a run stops before training with
    the command that installs the trainer's packages."""
    block = "import sys; sys.modules['matplotlib'] = None; from model import cli, train; "
    folder = tiny_mnist(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess:
        code = block + f"raise SystemExit(cli.run(lambda: train.main({list(args)!r})))"
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)

    helped = run("--help")
    assert helped.returncode == 0 and "--preset" in helped.stdout
    out = tmp_path / "run.npz"
    refused = run("--data", str(folder), "--epochs", "1", "--out", str(out))
    assert refused.returncode == 1
    assert "matplotlib" in refused.stderr and "requirements-train.txt" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists() and not list(tmp_path.glob("run.*"))
