"""The feedback database (model/feedback.py): storing, the schema's upgrade, review states, reading, exporting."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import multiprocessing
import re
import sqlite3
import time
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from model import data, feedback, feedback_rows
from tests.support.datasets import empty_feedback_database


def pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)


@pytest.fixture
def sqlite_store(tmp_path) -> feedback.FeedbackStore:
    return feedback.FeedbackStore(tmp_path / "sub" / "feedback.sqlite")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Iterator[feedback.FeedbackStore]:
    """A new, empty store of each backend: a SQLite file, and a database of the test PostgreSQL server."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_store")
        return
    opened = feedback.open_store(request.getfixturevalue("postgres").new_database())
    yield opened
    opened.close()


def test_samples_are_stored_and_read_back(store):
    ids = [store.add(f"id{k}", pixels(k), prediction=k % 10, model="digits", label=(k + 1) % 10) for k in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    samples = feedback.read_samples(store.database, ["pending"])
    assert samples.labels.tolist() == [1, 2, 3, 4, 5]
    for k in range(5):
        np.testing.assert_array_equal(samples.images[k], pixels(k))
    assert [(s.model, s.prediction, s.created[-6:]) for s in store.samples(order="oldest")] == [
        ("digits", k, "+00:00") for k in range(5)
    ]


def test_a_sqlite_database_has_the_schema_in_wal_mode(sqlite_store):
    store = sqlite_store
    for k in range(5):
        store.add(f"id{k}", pixels(k), prediction=k % 10, model="digits", label=(k + 1) % 10)
    with sqlite3.connect(store.database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in db.execute("PRAGMA table_info(samples)")]
        rows = db.execute("SELECT model, prediction, created FROM samples ORDER BY id").fetchall()
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert version == feedback.SCHEMA_VERSION == 2
    assert columns == ["id", "sample_id", "created", "model", "prediction", "label", "pixels", "status", "confidence"]
    assert [r[:2] for r in rows] == [("digits", k) for k in range(5)]
    assert all(r[2].endswith("+00:00") for r in rows)


def test_the_same_sample_again_replaces_its_label(store):
    first = store.add("same", pixels(0), 3, "seed", 3)
    again = store.add("same", pixels(0), 3, "seed", 8)
    assert first == again
    assert feedback.read_samples(store.database, ["pending"]).labels.tolist() == [8]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pixels": np.zeros((28, 28), np.float32)}, "uint8"),
        ({"pixels": np.zeros((27, 28), np.uint8)}, r"\(28, 28\)"),
        ({"label": 10}, "digits"),
        ({"prediction": -1}, "digits"),
        ({"confidence": 1.5}, "probability"),
        ({"confidence": -0.1}, "probability"),
        ({"confidence": float("nan")}, "probability"),
    ],
)
def test_bad_samples_are_refused_before_the_database(store, kwargs, message):
    sample = {"sample_id": "x", "pixels": pixels(0), "prediction": 1, "model": "digits", "label": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        store.add(**sample)
    if feedback.is_postgres(store.database):
        assert store.counts() == {"pending": 0, "approved": 0, "rejected": 0}
    else:
        assert not Path(store.database).exists()


def test_a_read_only_database_is_a_feedback_error(sqlite_store):
    store = sqlite_store
    store.add("a", pixels(0), 1, "digits", 1)
    read_only = feedback.FeedbackStore(f"file:{store.database}?mode=ro")
    with pytest.raises(feedback.FeedbackError, match="readonly"):
        read_only.add("b", pixels(1), 1, "digits", 1)
    assert [s.id for s in read_only.samples()] == [1]  # reading needs no write
    assert read_only.counts() == {"pending": 1, "approved": 0, "rejected": 0}


def test_a_full_database_is_a_feedback_error_and_keeps_what_it_had(tmp_path):
    path = tmp_path / "small.sqlite"
    small = feedback.FeedbackStore(path, max_bytes=64 * 1024)
    stored = 0
    with pytest.raises(feedback.FeedbackError, match="full"):
        for k in range(1000):
            small.add(f"s{k}", pixels(k), 1, "digits", 2)
            stored += 1
    assert 10 < stored < 1000
    assert len(feedback.read_samples(path, ["pending"])) == stored
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
    assert store.approve_all() == 12
    return store


def test_export_as_kaggle_csv_reads_back(stored, tmp_path, capsys):
    out = tmp_path / "train.csv"
    assert feedback.main(["export", stored.database, "--format", "kaggle", "--out", str(out)]) == 0
    assert "exported 12 approved samples" in capsys.readouterr().out
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
                assert db.execute("PRAGMA user_version").fetchone()[0] == feedback.SCHEMA_VERSION


# -- the schema's version and the upgrade of a database made before it had one ---------------------------

# The first schema exactly as model/feedback.py created it, before review states: no user_version.
FIRST_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id         INTEGER PRIMARY KEY,
    sample_id  TEXT NOT NULL UNIQUE,
    created    TEXT NOT NULL,
    model      TEXT NOT NULL,
    prediction INTEGER NOT NULL CHECK (prediction BETWEEN 0 AND 9),
    label      INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    pixels     BLOB NOT NULL CHECK (length(pixels) = 784)
)
"""
FIRST_ROWS = [
    (f"old{k}", f"2024-05-0{k + 1}T12:00:00+00:00", "digits", k, (k + 3) % 10, pixels(100 + k).tobytes())
    for k in range(3)
]


def first_schema_database(path: Path) -> Path:
    """A database as the first schema's code left it: WAL, three samples, user_version 0."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(FIRST_SCHEMA)
        db.executemany(
            "INSERT INTO samples (sample_id, created, model, prediction, label, pixels) VALUES (?, ?, ?, ?, ?, ?)",
            FIRST_ROWS,
        )
    return path


def user_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def table_info(path: Path) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA table_info(samples)").fetchall()


def test_a_first_schema_database_is_upgraded_in_place_its_samples_pending(tmp_path, sqlite_store):
    store = sqlite_store
    path = first_schema_database(tmp_path / "old.sqlite")
    assert user_version(path) == 0
    old = feedback.FeedbackStore(path)
    assert old.counts() == {"pending": 3, "approved": 0, "rejected": 0}
    assert user_version(path) == 2
    store.add("new", pixels(0), 1, "digits", 1, confidence=0.5)
    assert table_info(path) == table_info(Path(store.database))  # the same columns as a new database
    rows = old.samples(order="oldest")
    assert [(s.id, s.created, s.model, s.prediction, s.label) for s in rows] == [
        (k + 1, created, model, prediction, label)
        for k, (_, created, model, prediction, label, _) in enumerate(FIRST_ROWS)
    ]
    assert [(s.status, s.confidence) for s in rows] == [("pending", None)] * 3
    for sample, row in zip(rows, FIRST_ROWS):
        np.testing.assert_array_equal(sample.pixels, np.frombuffer(row[5], np.uint8).reshape(28, 28))
    # The upgraded database takes new samples and reviews as a new one does.
    assert old.add("next", pixels(9), 2, "digits", 2, confidence=0.75) == 4
    assert old.set_status([1, 4], "approved") == 2
    assert feedback.read_samples(path).labels.tolist() == [FIRST_ROWS[0][4], 2]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_trainers_read_leaves_a_first_schema_database_as_it_is(tmp_path):
    path = first_schema_database(tmp_path / "old.sqlite")
    assert len(feedback.read_samples(path)) == 0
    assert feedback.read_samples(path, ["pending"]).labels.tolist() == [row[4] for row in FIRST_ROWS]
    assert feedback.status_counts(path) == {"pending": 3, "approved": 0, "rejected": 0}
    assert user_version(path) == 0
    assert [row[1] for row in table_info(path)][-1] == "pixels"


def test_a_read_only_first_schema_database_is_read_as_all_pending_and_refuses_changes(tmp_path):
    path = first_schema_database(tmp_path / "old.sqlite")
    read_only = feedback.FeedbackStore(f"file:{path}?mode=ro")
    assert read_only.counts() == {"pending": 3, "approved": 0, "rejected": 0}
    rows = read_only.samples(order="oldest")
    assert [(s.id, s.label, s.status, s.confidence) for s in rows] == [
        (k + 1, row[4], "pending", None) for k, row in enumerate(FIRST_ROWS)
    ]
    # Of unknown confidence, each label that is not the reading is a disagreement, first in that order.
    assert [s.disagrees for s in rows] == [row[3] != row[4] for row in FIRST_ROWS] == [True] * 3
    assert [s.id for s in read_only.samples("pending", order="disagreements")] == [3, 2, 1]
    assert read_only.samples("approved") == []
    assert read_only.missing([1, 4]) == [4]
    changes = [
        lambda: read_only.set_status([1], "approved"),
        lambda: read_only.decide({1: FIRST_ROWS[0][4]}, "approved"),
        lambda: read_only.approve_all(),
        lambda: read_only.add("new", pixels(0), 1, "digits", 1),
    ]
    for change in changes:
        with pytest.raises(feedback.FeedbackError, match=r"schema version 2: .*readonly.*read, not changed"):
            change()
    assert user_version(path) == 0
    assert [row[1] for row in table_info(path)][-1] == "pixels"


def test_a_newer_schema_is_refused_everywhere_with_a_clear_message(tmp_path, sqlite_store, capsys):
    store = sqlite_store
    store.add("a", pixels(0), 1, "digits", 1)
    with sqlite3.connect(store.database) as db:
        db.execute("PRAGMA user_version = 3")
    newer = "schema version 3, newer than this code knows \\(2\\)"
    with pytest.raises(feedback.FeedbackError, match=newer):
        store.add("b", pixels(1), 1, "digits", 1)
    with pytest.raises(feedback.FeedbackError, match=newer):
        store.samples()
    with pytest.raises(data.DataError, match=newer):
        feedback.read_samples(store.database)
    assert feedback.main(["review", store.database, "--list"]) == 1
    assert re.search(newer, capsys.readouterr().err)
    assert user_version(Path(store.database)) == 3
    with sqlite3.connect(store.database) as db:
        assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == 1


def _first_use(job: tuple[str, int, float]) -> str | None:
    database, worker, start = job
    while time.time() < start:  # every process opens the old database at once
        pass
    try:
        feedback.FeedbackStore(database).add(f"w{worker}", pixels(worker), 1, "digits", worker % 10, confidence=0.9)
    except feedback.FeedbackError as e:
        return str(e)
    return None


def test_processes_upgrading_an_old_database_at_once_upgrade_it_once(tmp_path):
    processes, rounds = 8, 10
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for round_ in range(rounds):
            database = first_schema_database(tmp_path / f"old{round_}.sqlite")
            start = time.time() + 0.05
            failures = [e for e in pool.map(_first_use, [(str(database), w, start) for w in range(processes)]) if e]
            assert failures == [], f"round {round_}: {failures}"
            assert user_version(database) == 2
            assert feedback.FeedbackStore(database).counts() == {"pending": 3 + processes, "approved": 0, "rejected": 0}


# -- review states ---------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch) -> None:
    """Every sample stored a minute after the one before, so that "newest" has an answer."""
    minutes = itertools.count()
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return start + dt.timedelta(minutes=next(minutes))

    monkeypatch.setattr(feedback_rows, "dt", types.SimpleNamespace(datetime=Clock, UTC=dt.UTC))


@pytest.mark.parametrize("reviewed", ["approved", "rejected"])
def test_a_new_label_puts_a_reviewed_sample_back_to_pending_and_the_same_label_does_not(store, clock, reviewed):
    row = store.add("s", pixels(0), 3, "digits", 3, confidence=0.8)
    store.set_status([row], reviewed)
    assert store.add("s", pixels(0), 3, "digits", 3, confidence=0.8) == row
    [same] = store.samples()
    assert (same.label, same.status, same.created) == (3, reviewed, "2025-01-01T00:00:00+00:00")
    assert store.add("s", pixels(0), 3, "digits", 5) == row
    [relabelled] = store.samples()
    assert (relabelled.label, relabelled.status, relabelled.created) == (5, "pending", "2025-01-01T00:02:00+00:00")
    assert relabelled.confidence == pytest.approx(0.8)  # a resend without it keeps the one known
    assert store.counts() == {"pending": 1, "approved": 0, "rejected": 0}


def test_stored_samples_carry_what_the_review_shows(store, clock):
    store.add("a", pixels(7), 4, "seed", 9, confidence=0.875)
    [sample] = store.samples()
    assert (sample.id, sample.created, sample.model, sample.prediction, sample.label) == (
        1,
        "2025-01-01T00:00:00+00:00",
        "seed",
        4,
        9,
    )
    assert (sample.status, sample.confidence, sample.disagrees) == ("pending", 0.875, True)
    assert sample.pixels.dtype == np.uint8 and sample.pixels.shape == (28, 28)
    np.testing.assert_array_equal(sample.pixels, pixels(7))


# (prediction, label, confidence) in the order stored, a minute apart.
READINGS = {
    "agrees": (3, 3, 0.99),
    "confidently-contradicted": (3, 5, 0.9),
    "unsure": (3, 5, 0.3),
    "unknown-confidence": (3, 5, None),
    "just-confident": (3, 5, 0.6),
    "agrees-unknown": (7, 7, None),
}


@pytest.fixture
def readings(store, clock) -> dict[str, int]:
    """The READINGS stored, by name -> row id."""
    return {
        name: store.add(name, pixels(k), prediction, "digits", label, confidence)
        for k, (name, (prediction, label, confidence)) in enumerate(READINGS.items())
    }


@pytest.mark.parametrize(
    ("order", "confident", "expected"),
    [
        (
            "newest",
            0.6,
            ["agrees-unknown", "just-confident", "unknown-confidence", "unsure", "confidently-contradicted", "agrees"],
        ),
        ("oldest", 0.6, list(READINGS)),
        # Label against a reading at least 60% sure (or of unknown confidence) first, newest first in each group.
        (
            "disagreements",
            0.6,
            ["just-confident", "unknown-confidence", "confidently-contradicted", "agrees-unknown", "unsure", "agrees"],
        ),
        (
            "disagreements",
            0.95,
            ["unknown-confidence", "agrees-unknown", "just-confident", "unsure", "confidently-contradicted", "agrees"],
        ),
    ],
)
def test_samples_come_in_the_order_asked(store, readings, order, confident, expected):
    names = {row: name for name, row in readings.items()}
    assert [names[s.id] for s in store.samples(order=order, confident=confident)] == expected
    # Pages of it are the same list cut up.
    pages = [store.samples(order=order, confident=confident, limit=4, offset=offset) for offset in (0, 4, 8)]
    assert [[names[s.id] for s in page] for page in pages] == [expected[:4], expected[4:], []]


def test_disagrees_is_what_the_disagreements_order_puts_first_at_each_threshold(store, readings):
    for confident in (0.2, 0.6, 0.95):
        ordered = store.samples(order="disagreements", confident=confident)
        flags = [s.disagrees for s in ordered]
        assert flags == sorted(flags, reverse=True)  # every disagreement before every other sample
        for s in ordered:
            contradicted = s.label != s.prediction
            assert s.disagrees == (contradicted and (s.confidence is None or s.confidence >= confident))
        # The same flag whatever the order.
        newest = {s.id: s.disagrees for s in store.samples(order="newest", confident=confident)}
        assert newest == {s.id: s.disagrees for s in ordered}
    names = {row: name for name, row in readings.items()}
    at = {c: {names[s.id] for s in store.samples(confident=c) if s.disagrees} for c in (0.2, 0.95)}
    assert at[0.2] == {"confidently-contradicted", "unsure", "unknown-confidence", "just-confident"}
    assert at[0.95] == {"unknown-confidence"}
    assert {names[s.id] for s in store.samples() if s.disagrees} == {  # the default: CONFIDENT
        "confidently-contradicted",
        "unknown-confidence",
        "just-confident",
    }


def test_decide_changes_only_the_samples_still_labelled_as_shown(store, clock):
    ids = [store.add(name, pixels(k), 3, "digits", 3, 0.9) for k, name in enumerate("abcd")]
    shown = {i: 3 for i in ids}  # the page as the reviewer loaded it
    store.add("b", pixels(1), 3, "digits", 8)  # a visitor re-labels b, then c twice, back to what was shown
    store.add("c", pixels(2), 3, "digits", 1)
    store.add("c", pixels(2), 3, "digits", 3)
    store.set_status([ids[3]], "approved")
    decided = store.decide({**shown, 999: 3}, "approved")
    assert decided == feedback.Decided(changed=2, stale=(ids[1],))  # d was approved already; 999 is no sample
    by_id = {s.id: (s.label, s.status) for s in store.samples(order="oldest")}
    assert by_id == {ids[0]: (3, "approved"), ids[1]: (8, "pending"), ids[2]: (3, "approved"), ids[3]: (3, "approved")}
    # Deciding on what is shown now goes through, and reject works the same way.
    assert store.decide({ids[1]: 8}, "rejected") == feedback.Decided(1, ())
    assert store.decide({ids[0]: 5, ids[1]: 8}, "rejected") == feedback.Decided(0, (ids[0],))
    assert store.counts() == {"pending": 0, "approved": 3, "rejected": 1}
    assert store.decide({}, "approved") == feedback.Decided(0, ())


def test_status_filters_counts_and_set_status(store, readings):
    ids = list(readings.values())
    assert store.counts() == {"pending": 6, "approved": 0, "rejected": 0}
    assert store.set_status([ids[0], ids[2], 999], "approved") == 2  # an id of no sample is ignored
    assert store.set_status([ids[0], ids[1]], "approved") == 1  # the first is approved already
    assert store.set_status([ids[5]], "rejected") == 1
    assert store.counts() == {"pending": 2, "approved": 3, "rejected": 1}
    by_status = {status: [s.id for s in store.samples(status, order="oldest")] for status in feedback.STATUSES}
    assert by_status == {"pending": [ids[3], ids[4]], "approved": ids[:3], "rejected": [ids[5]]}
    assert [s.id for s in store.samples("pending", order="disagreements")] == [ids[4], ids[3]]
    assert store.missing([ids[1], 999, 0, ids[5]]) == [0, 999]
    assert store.approve_all() == 2
    assert store.counts() == {"pending": 0, "approved": 5, "rejected": 1}
    assert store.approve_all() == 0
    assert [s.status for s in store.samples(order="oldest")] == ["approved"] * 5 + ["rejected"]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.set_status([1], "accepted"), ValueError),
        (lambda s: s.set_status(["1"], "approved"), TypeError),
        (lambda s: s.set_status([1.0], "approved"), TypeError),
        (lambda s: s.decide({1: 3}, "accepted"), ValueError),
        (lambda s: s.decide({1: 10}, "approved"), ValueError),
        (lambda s: s.decide({1: "3"}, "approved"), TypeError),
        (lambda s: s.decide({"1": 3}, "approved"), TypeError),
        (lambda s: s.samples(status="all"), ValueError),
        (lambda s: s.samples(order="random"), ValueError),
        (lambda s: s.samples(limit=-1), ValueError),
        (lambda s: s.samples(offset=-1), ValueError),
    ],
)
def test_bad_review_arguments_are_refused(readings, store, call, error):
    with pytest.raises(error):
        call(store)
    assert store.counts() == {"pending": 6, "approved": 0, "rejected": 0}


def test_a_database_not_made_yet_reads_as_empty_and_is_not_made_by_reading(tmp_path):
    path = tmp_path / "sub" / "feedback.sqlite"
    store = feedback.FeedbackStore(path)
    assert store.samples() == []
    assert store.counts() == {"pending": 0, "approved": 0, "rejected": 0}
    assert store.set_status([1, 2], "approved") == 0
    assert store.decide({1: 3}, "approved") == feedback.Decided(0, ())
    assert store.approve_all() == 0
    assert store.missing([2, 1]) == [1, 2]
    assert not path.parent.exists()


@pytest.mark.parametrize(
    ("statuses", "labels"),
    [
        (None, [1]),  # the default: approved only
        (["approved"], [1]),
        (["pending"], [0, 3]),
        (["approved", "pending"], [0, 1, 3]),
        (feedback.STATUSES, [0, 1, 2, 3]),
        ([], []),
    ],
)
def test_read_samples_takes_the_statuses_asked(store, statuses, labels):
    for k in range(4):
        store.add(f"s{k}", pixels(k), 0, "digits", k)
    store.set_status([2], "approved")
    store.set_status([3], "rejected")
    read = (
        feedback.read_samples(store.database) if statuses is None else feedback.read_samples(store.database, statuses)
    )
    assert read.labels.tolist() == labels
    for image, label in zip(read.images, labels):
        np.testing.assert_array_equal(image, pixels(label))
    assert feedback.status_counts(store.database) == {"pending": 2, "approved": 1, "rejected": 1}


def test_read_samples_refuses_a_status_it_does_not_know(store):
    store.add("a", pixels(0), 1, "digits", 1)
    with pytest.raises(ValueError, match="unknown status 'all'"):
        feedback.read_samples(store.database, ["all"])


# -- the command line: review ----------------------------------------------------------------------------


@pytest.fixture
def reviewed(store, readings) -> feedback.FeedbackStore:
    """The READINGS, the first two approved and the last rejected."""
    store.set_status([1, 2], "approved")
    store.set_status([6], "rejected")
    return store


def listed_ids(out: str) -> list[int]:
    """The ids of the samples --list printed: the first cell of each table row after the header."""
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["id", "time", "(UTC)", "label"]
    return [int(line.split()[0]) for line in lines[1:] if re.match(r"\s*\d+\s+\d{4}-", line)]


@pytest.mark.parametrize(
    ("options", "ids"),
    [
        ([], [5, 4, 3]),  # pending, the default
        (["--status", "pending"], [5, 4, 3]),
        (["--status", "approved"], [2, 1]),
        (["--status", "rejected"], [6]),
        (["--status", "all"], [6, 5, 4, 3, 2, 1]),
        (["--status", "all", "--order", "oldest", "--limit", "2"], [1, 2]),
        (["--status", "all", "--order", "disagreements"], [5, 4, 2, 6, 3, 1]),
    ],
)
def test_review_list_prints_a_table_and_the_counts(reviewed, capsys, options, ids):
    assert feedback.main(["review", reviewed.database, "--list", *options]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out) == ids
    assert out.splitlines()[-1] == "6 samples: 3 pending, 2 approved, 1 rejected"


def test_review_list_shows_each_samples_reading(reviewed, capsys):
    assert feedback.main(["review", reviewed.database, "--list", "--status", "all"]) == 0
    rows = {int(line.split()[0]): line.split() for line in capsys.readouterr().out.splitlines()[1:-1]}
    # id, date, time, label, read as, confidence, model, status [(disagrees)]
    assert rows[2] == ["2", "2025-01-01", "00:01:00", "5", "3", "90.0%", "digits", "approved", "(disagrees)"]
    assert rows[3] == ["3", "2025-01-01", "00:02:00", "5", "3", "30.0%", "digits", "pending"]
    assert rows[4] == ["4", "2025-01-01", "00:03:00", "5", "3", "-", "digits", "pending", "(disagrees)"]


def test_review_list_of_no_samples_says_so(store, capsys):
    store.add("a", pixels(0), 1, "digits", 1)
    store.approve_all()
    assert feedback.main(["review", store.database, "--list"]) == 0
    assert capsys.readouterr().out == "no pending samples\n1 sample: 0 pending, 1 approved, 0 rejected\n"


@pytest.mark.parametrize(
    ("options", "said", "statuses"),
    [
        (
            ["--approve", "3,5"],
            "approved 2 samples",
            ["approved", "approved", "approved", "pending", "approved", "rejected"],
        ),
        (
            ["--approve", "1-3"],
            "approved 1 sample (2 already approved)",
            ["approved"] * 3 + ["pending", "pending", "rejected"],
        ),
        (
            ["--approve", "6"],
            "approved 1 sample",
            ["approved", "approved", "pending", "pending", "pending", "approved"],
        ),
        (
            ["--reject", "1,4-5"],
            "rejected 3 samples",
            ["rejected", "approved", "pending", "rejected", "rejected", "rejected"],
        ),
        (["--approve-all"], "approved 3 pending samples", ["approved"] * 5 + ["rejected"]),
    ],
)
def test_review_sets_the_status_of_the_samples_named(reviewed, capsys, options, said, statuses):
    assert feedback.main(["review", reviewed.database, *options]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == said
    counts = {s: statuses.count(s) for s in feedback.STATUSES}
    assert (
        out[1]
        == f"now 6 samples: {counts['pending']} pending, {counts['approved']} approved, {counts['rejected']} rejected"
    )
    assert [s.status for s in reviewed.samples(order="oldest")] == statuses


def test_review_of_ids_no_sample_has_changes_nothing(reviewed, capsys):
    assert feedback.main(["review", reviewed.database, "--approve", "3,7-9,12"]) == 1
    err = capsys.readouterr().err
    assert (
        err == f"error: {reviewed.database}: no sample has the id 7-9, 12; nothing was changed (--list shows the ids)\n"
    )
    assert reviewed.counts() == {"pending": 3, "approved": 2, "rejected": 1}


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("", "'' is not a sample id"),
        ("a", "'a' is not a sample id"),
        ("3,,4", "'' is not a sample id"),
        ("1.5", "'1.5' is not a sample id"),
        ("-3", "'-3' is not a sample id"),
        ("1-2-3", "'1-2-3' is not a sample id"),
        ("12-9", "'12-9': ids start at 1 and a range goes up"),
        ("0", "'0': ids start at 1"),
        ("1-2000000", "names more than 1,000,000 ids"),
        ("9" * 30, "is not a sample id"),
    ],
)
@pytest.mark.parametrize("option", ["--approve", "--reject"])
def test_bad_ids_exit_2_and_change_nothing(reviewed, capsys, option, ids, message):
    with pytest.raises(SystemExit) as exit_:
        feedback.main(["review", reviewed.database, option, ids])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err and message in err
    assert reviewed.counts() == {"pending": 3, "approved": 2, "rejected": 1}


def test_ids_are_read_as_ids_and_ranges():
    assert feedback.parse_ids("3,5,9-12") == [3, 5, 9, 10, 11, 12]
    assert feedback.parse_ids(" 7 , 2-3,3 ") == [2, 3, 7]
    assert feedback.parse_ids("4-4") == [4]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--approve", "1", "--reject", "2"], "not allowed with argument"),
        (["--approve-all", "--status", "pending"], "--status goes with --list"),
        (["--approve", "1", "--order", "newest", "--limit", "3"], "--order, --limit go with --list"),
        (["--list", "--status", "accepted"], "invalid choice: 'accepted'"),
        ([], "one of the arguments --list --approve --reject --approve-all is required"),
    ],
)
def test_review_options_that_do_not_go_together_exit_2(reviewed, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        feedback.main(["review", reviewed.database, *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert reviewed.counts() == {"pending": 3, "approved": 2, "rejected": 1}


@pytest.mark.parametrize("options", [["--list"], ["--approve-all"], ["--reject", "1"]])
def test_review_of_a_missing_database_exits_1_and_makes_none(tmp_path, capsys, options):
    path = tmp_path / "feedback.sqlite"
    assert feedback.main(["review", str(path), *options]) == 1
    assert capsys.readouterr().err == f"error: {path}: no such feedback database\n"
    assert not path.exists()


# -- the command line: export --status --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "labels", "said"),
    [
        ([], [3, 5], "exported 2 approved samples"),
        (["--status", "approved"], [3, 5], "exported 2 approved samples"),
        (["--status", "pending"], [5, 5, 5], "exported 3 pending samples"),
        (["--status", "rejected"], [7], "exported 1 rejected sample"),
        (["--status", "all"], [3, 5, 5, 5, 5, 7], "exported 6 samples"),
    ],
)
def test_export_takes_the_status_asked(reviewed, tmp_path, capsys, options, labels, said):
    out = tmp_path / "train.csv"
    assert feedback.main(["export", reviewed.database, "--format", "kaggle", "--out", str(out), *options]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(said + " (")
    assert ("left out" in printed) == (options != ["--status", "all"])
    assert data.read_kaggle_csv(out).labels.tolist() == labels


def test_export_of_no_approved_samples_says_how_to_review_them(store, tmp_path, capsys):
    store.add("a", pixels(0), 1, "digits", 1)
    out = tmp_path / "train.csv"
    assert feedback.main(["export", store.database, "--format", "kaggle", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {store.database}: has no approved samples: nothing to export (1 pending; review them with"
    )
    assert f"python -m model.feedback review {store.database} --list" in err and err.count("\n") == 1
    assert not out.exists()


def test_export_help_gives_the_status_default(capsys):
    with pytest.raises(SystemExit):
        feedback.main(["export", "--help"])
    assert "(default: approved)" in " ".join(capsys.readouterr().out.split())


def test_review_help_describes_ids_and_orders(capsys):
    with pytest.raises(SystemExit) as exit_:
        feedback.main(["review", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "e.g. 3,5,9-12" in text
    assert "a reading at least 60% sure (default: newest)" in text
    assert "(default: pending)" in text
    # The command line goes by id: the person just listed them.
    assert "approve these samples, by id, whatever label each has now" in text
