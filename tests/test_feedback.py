"""The feedback database (model/feedback.py): storing, reading, exporting."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from model import data, feedback
from tests.support.datasets import empty_feedback_database


def pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)


@pytest.fixture
def store(tmp_path) -> feedback.FeedbackStore:
    return feedback.FeedbackStore(tmp_path / "sub" / "feedback.sqlite")


def test_samples_are_stored_and_read_back(store):
    ids = [store.add(f"id{k}", pixels(k), prediction=k % 10, model="digits", label=(k + 1) % 10) for k in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    samples = feedback.read_samples(store.database)
    assert samples.labels.tolist() == [1, 2, 3, 4, 5]
    for k in range(5):
        np.testing.assert_array_equal(samples.images[k], pixels(k))
    with sqlite3.connect(store.database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in db.execute("PRAGMA table_info(samples)")]
        rows = db.execute("SELECT model, prediction, created FROM samples ORDER BY id").fetchall()
    assert columns == ["id", "sample_id", "created", "model", "prediction", "label", "pixels"]
    assert [r[:2] for r in rows] == [("digits", k) for k in range(5)]
    assert all(r[2].endswith("+00:00") for r in rows)


def test_the_same_sample_again_replaces_its_label(store):
    first = store.add("same", pixels(0), 3, "seed", 3)
    again = store.add("same", pixels(0), 3, "seed", 8)
    assert first == again
    assert feedback.read_samples(store.database).labels.tolist() == [8]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pixels": np.zeros((28, 28), np.float32)}, "uint8"),
        ({"pixels": np.zeros((27, 28), np.uint8)}, r"\(28, 28\)"),
        ({"label": 10}, "digits"),
        ({"prediction": -1}, "digits"),
    ],
)
def test_bad_samples_are_refused_before_the_database(store, kwargs, message):
    sample = {"sample_id": "x", "pixels": pixels(0), "prediction": 1, "model": "digits", "label": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        store.add(**sample)
    assert not Path(store.database).exists()


def test_a_read_only_database_is_a_feedback_error(store):
    store.add("a", pixels(0), 1, "digits", 1)
    read_only = feedback.FeedbackStore(f"file:{store.database}?mode=ro")
    with pytest.raises(feedback.FeedbackError, match="readonly"):
        read_only.add("b", pixels(1), 1, "digits", 1)
    assert len(feedback.read_samples(store.database)) == 1


def test_a_full_database_is_a_feedback_error_and_keeps_what_it_had(tmp_path):
    path = tmp_path / "small.sqlite"
    small = feedback.FeedbackStore(path, max_bytes=64 * 1024)
    stored = 0
    with pytest.raises(feedback.FeedbackError, match="full"):
        for k in range(1000):
            small.add(f"s{k}", pixels(k), 1, "digits", 2)
            stored += 1
    assert 10 < stored < 1000
    assert len(feedback.read_samples(path)) == stored
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such feedback database"),
        (lambda p: p.write_bytes(b"not a database at all" * 100), "cannot read it as a feedback database"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE other (x)").connection.commit(), "no such table"),
    ],
    ids=["missing", "not-sqlite", "no-samples-table"],
)
def test_reading_something_else_is_a_data_error(tmp_path, make, message):
    path = tmp_path / "feedback.sqlite"
    make(path)
    with pytest.raises(data.DataError, match=message) as error:
        feedback.read_samples(path)
    assert str(path) in str(error.value)


@pytest.fixture
def stored(store) -> feedback.FeedbackStore:
    for k in range(12):
        store.add(f"id{k}", pixels(k), prediction=0, model="digits", label=k % 10)
    return store


def test_export_as_kaggle_csv_reads_back(stored, tmp_path, capsys):
    out = tmp_path / "train.csv"
    assert feedback.main(["export", stored.database, "--format", "kaggle", "--out", str(out)]) == 0
    assert "exported 12 samples" in capsys.readouterr().out
    back = data.read_kaggle_csv(out)
    assert back.labels.tolist() == [k % 10 for k in range(12)]
    np.testing.assert_array_equal(back.images, feedback.read_samples(stored.database).images)


def test_export_as_idx_reads_back(stored, tmp_path, capsys):
    out = tmp_path / "idx"
    assert feedback.main(["export", stored.database, "--format", "idx", "--out", str(out)]) == 0
    images = data.read_idx_images(out / "feedback-images-idx3-ubyte")
    labels = data.read_idx_labels(out / "feedback-labels-idx1-ubyte")
    assert labels.tolist() == [k % 10 for k in range(12)]
    np.testing.assert_array_equal(images, feedback.read_samples(stored.database).images)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda path: None, "no such feedback database"),
        (empty_feedback_database, "no samples yet"),
    ],
    ids=["missing", "empty"],
)
def test_export_of_nothing_exits_1_with_one_line(tmp_path, capsys, setup, message):
    path = tmp_path / "feedback.sqlite"
    setup(path)
    out = tmp_path / "train.csv"
    assert feedback.main(["export", str(path), "--format", "kaggle", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_export_as_kaggle_into_a_folder_exits_1_with_one_line(stored, tmp_path, capsys):
    assert feedback.main(["export", stored.database, "--format", "kaggle", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: is a folder" in err and err.count("\n") == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_needs_a_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        feedback.main(["export", str(tmp_path / "f.sqlite"), "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert "--format" in capsys.readouterr().err


def test_a_folder_that_cannot_be_made_is_a_feedback_error(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    store = feedback.FeedbackStore(tmp_path / "file" / "sub" / "feedback.sqlite")
    with pytest.raises(feedback.FeedbackError, match="cannot open the database"):
        store.add("a", pixels(0), 1, "digits", 1)


def _first_write(job: tuple[str, int, float]) -> str | None:
    database, worker, start = job
    while time.time() < start:  # every process makes its first write to the new database at once
        pass
    try:
        feedback.FeedbackStore(database).add(f"w{worker}", pixels(worker), 1, "digits", worker % 10)
    except feedback.FeedbackError as e:
        return str(e)
    return None


def test_processes_writing_a_new_database_at_once_lose_nothing(tmp_path):
    """The first write of each process switches the new file to WAL; when several come at the
    same moment they must wait their turn, not fail. Many fresh databases, as the race is rare."""
    processes, rounds = 12, 30
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for round_ in range(rounds):
            database = str(tmp_path / f"feedback{round_}.sqlite")
            start = time.time() + 0.05
            failures = [e for e in pool.map(_first_write, [(database, w, start) for w in range(processes)]) if e]
            assert failures == [], f"round {round_}: {failures}"
            with sqlite3.connect(database) as db:
                assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == processes
