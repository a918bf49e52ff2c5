"""Training checkpoints: written whole, read back exactly, refused when they are not checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.checkpoint import Checkpoint, CheckpointError, is_checkpoint, path_for
from model.network import EpochRecord, Network, SGDState


def trained_for_an_epoch() -> tuple[Network, SGDState, list[EpochRecord]]:
    rng = np.random.default_rng(0)
    X, y = rng.random((12, 60)), rng.integers(0, 3, 60)
    net, state = Network([12, 6, 3], cost="cross-entropy", activation="relu", seed=0), SGDState(7)
    history = net.SGD((X, y), 1, 10, 0.1, momentum=0.9, state=state)
    return net, state, history


def test_a_checkpoint_is_beside_the_weights_it_will_become():
    assert path_for("runs/digits.npz").as_posix() == "runs/digits.checkpoint.npz"
    assert is_checkpoint(path_for("runs/digits.npz"))
    assert not is_checkpoint("runs/digits.npz")


def test_what_is_saved_is_what_is_loaded(tmp_path):
    net, state, history = trained_for_an_epoch()
    best = {k: v + 1 for k, v in net.parameters().items()}
    config = {"--eta": 0.1, "--hidden": [6], "--extra": []}
    path = tmp_path / "net.checkpoint.npz"
    Checkpoint.of(net, (1, 0.75, best), state, history, 2.5, config).save(path)

    loaded = Checkpoint.load(path)
    restored = loaded.network()
    assert (restored.sizes, restored.cost, restored.activation, restored.dtype) == (
        net.sizes,
        net.cost,
        net.activation,
        net.dtype,
    )
    for a, b in zip(net.weights + net.biases, restored.weights + restored.biases, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert loaded.best_parameters.keys() == best.keys()
    assert all(np.array_equal(loaded.best_parameters[k], best[k]) for k in best)
    assert (loaded.best_epoch, loaded.best_accuracy, loaded.seconds, loaded.config) == (1, 0.75, 2.5, config)
    assert loaded.records() == history
    # The optimiser goes on exactly: same velocities, same counts, same next random numbers.
    resumed = loaded.sgd_state()
    assert (resumed.epoch, resumed.step) == (state.epoch, state.step) == (1, 6)
    for a, b in zip(state.velocities[1], resumed.velocities[1], strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(resumed.rng.random(5), state.rng.random(5))


def test_saving_over_a_checkpoint_keeps_the_old_one_until_the_new_one_is_whole(tmp_path, monkeypatch):
    net, state, history = trained_for_an_epoch()
    path = tmp_path / "net.checkpoint.npz"
    checkpoint = Checkpoint.of(net, (1, 0.5, net.parameters()), state, history, 1.0, {})
    checkpoint.save(path)
    before = path.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def write_checkpoint(path, **meta_changes) -> None:
    net, state, history = trained_for_an_epoch()
    Checkpoint.of(net, (1, 0.5, net.parameters()), state, history, 1.0, {}).save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["metadata"]))
    meta.update(meta_changes)
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b"PK\x03\x04 but no more"), "is truncated or not an .npz file"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p), "not an .npz"),
        (lambda p: np.savez(p, a=np.zeros(3)), "has no 'metadata' entry"),
        (lambda p: Network([12, 6, 3], seed=0).save(p), "is not a training checkpoint"),
        (lambda p: write_checkpoint(p, format_version=9), "has format version 9"),
        (lambda p: write_checkpoint(p, architecture={"sizes": [12, 5, 3]}), "does not hold a consistent"),
        (lambda p: write_checkpoint(p, history=[{"epoch": 1}]), "does not hold a consistent"),
    ],
    ids=["missing", "truncated", "npy", "no-metadata", "weights", "version", "architecture", "history"],
)
def test_what_cannot_be_resumed_is_refused_naming_the_file(tmp_path, make, message):
    path = tmp_path / "net.checkpoint.npz"
    make(path)
    with pytest.raises(CheckpointError, match=message) as info:
        Checkpoint.load(path)
    assert str(info.value).startswith(f"{path}: ")
