"""The evaluation CLI on saved weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model import data, evaluate
from model.checkpoint import Checkpoint
from model.network import Network, SGDState
from tests.support.datasets import tiny_mnist, write_kaggle_csv


@pytest.fixture
def trained(tmp_path):
    """A small network trained on tiny bar images, and the folder they are in."""
    folder = tiny_mnist(tmp_path / "mnist", n=400)
    train_set, _ = data.load(folder)
    net = Network([784, 20, 10], cost="cross-entropy", activation="relu", seed=0)
    net.SGD((data.to_columns(train_set.images), train_set.labels), 5, 10, 0.1)
    net.save(tmp_path / "net.npz")
    return net, folder, train_set


def test_json_report_matches_the_network(trained, tmp_path, capsys):
    net, folder, train_set = trained
    status = evaluate.main(
        ["--data", str(folder), "--split", "train", "--weights", str(tmp_path / "net.npz"), "--json"]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    predicted = net.predict(data.to_columns(train_set.images))
    assert report["images"] == 400
    assert report["correct"] == int(np.sum(predicted == train_set.labels))
    assert report["accuracy"] == pytest.approx(report["correct"] / 400)
    assert np.array(report["confusion_matrix"]).sum() == 400
    assert len(report["per_class_accuracy"]) == 10


def test_text_report_on_a_kaggle_csv(trained, tmp_path, capsys):
    _, _, train_set = trained
    write_kaggle_csv(tmp_path / "train.csv", train_set.images[:50], train_set.labels[:50])
    assert evaluate.main(["--data", str(tmp_path / "train.csv"), "--weights", str(tmp_path / "net.npz")]) == 0
    out = capsys.readouterr().out
    assert "784-20-10" in out and "of 50) on" in out and out.count("\n") >= 12


@pytest.mark.mnist
def test_shipped_model_on_the_mnist_test_set(mnist_dir, capsys):
    """The shipped weights reach the README's figure on the 10,000 test images."""
    assert evaluate.main(["--data", str(mnist_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 10_000
    assert report["accuracy"] >= 0.992
    assert report["accuracy"] == pytest.approx(Network.load(evaluate.DEFAULT_WEIGHTS).metadata["test_accuracy"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--weights", "nowhere.npz"], "nowhere.npz: no such file"),
        (["--split", "test"], "t10k-images-idx3-ubyte.gz: no such file"),
    ],
)
def test_errors_exit_1_with_one_line(trained, tmp_path, capsys, args, message):
    _, folder, _ = trained
    argv = ["--data", str(folder), "--weights", str(tmp_path / "net.npz")]
    status = evaluate.main(argv + args)
    err = capsys.readouterr().err
    assert status == 1
    assert message in err and err.startswith("error: ") and err.count("\n") == 1


def test_a_training_checkpoint_is_not_evaluated_as_a_model(trained, tmp_path, capsys):
    net, folder, _ = trained
    checkpoint = tmp_path / "net.checkpoint.npz"
    Checkpoint.of(net, (1, 0.5, net.parameters()), SGDState(0), [], 1.0, {}).save(checkpoint)
    assert evaluate.main(["--data", str(folder), "--split", "train", "--weights", str(checkpoint)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {checkpoint}: is a training checkpoint, not a model") and err.count("\n") == 1


def test_unlabelled_csv_is_refused(trained, tmp_path, capsys):
    _, _, train_set = trained
    write_kaggle_csv(tmp_path / "test.csv", train_set.images[:5])
    assert evaluate.main(["--data", str(tmp_path / "test.csv"), "--weights", str(tmp_path / "net.npz")]) == 1
    assert "has no label column" in capsys.readouterr().err
