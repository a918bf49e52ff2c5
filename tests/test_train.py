"""The trainer end to end, through main(argv): real MNIST, Kaggle CSVs, interruption, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from model import data, feedback, train
from model.network import Network
from scripts.feedback_demo import FINE_TUNE, SHIPPED, give_feedback
from tests.support.datasets import empty_feedback_database, tiny_mnist, write_kaggle_csv

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

    shipped = Network.load(SHIPPED)
    out = tmp_path / "mine.npz"
    args = ["--data", str(mnist_dir), "--init", str(SHIPPED), "--extra", str(database), *FINE_TUNE, "--out", str(out)]
    assert train.main(args) == 0
    assert "with 100 feedback samples x 10" in capsys.readouterr().out
    tuned = Network.load(out)
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["config"]["extra"] == [str(database)]
    [record] = metrics["feedback"]
    assert (record["path"], record["samples"], record["repeat"]) == (str(database), 100, 10)

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


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda path: None, "no such feedback database"),
        (lambda path: path.write_bytes(b"SQLite format 2\0" * 64), "cannot read it as a feedback database"),
        (empty_feedback_database, "has no feedback samples yet"),
    ],
    ids=["missing", "not-a-database", "empty"],
)
def test_bad_extra_exits_1_with_one_clear_line(tmp_path, capsys, setup, message):
    folder = tiny_mnist(tmp_path / "mnist")
    database = tmp_path / "feedback.sqlite"
    setup(database)
    status = train.main(["--data", str(folder), "--extra", str(database), "--out", str(tmp_path / "w.npz")])
    err = capsys.readouterr().err
    assert status == 1
    assert message in err and str(database) in err and err.count("\n") == 1
    assert not (tmp_path / "w.npz").exists()


def test_extra_samples_train_but_never_validate(tmp_path, capsys, monkeypatch):
    """Feedback samples join the training images, each --extra-repeat times with the label the
    person gave; the validation images stay MNIST's alone."""
    folder = tiny_mnist(tmp_path / "mnist")
    database = tmp_path / "feedback.sqlite"
    store = feedback.FeedbackStore(database)
    for k in range(7):  # all-white images: nothing like tiny_mnist's bars
        store.add(f"s{k}", np.full((28, 28), 255, np.uint8), 1, "digits", 8)
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
