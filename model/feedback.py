"""People's own handwriting: the feedback samples the web app stores, in SQLite.

Each row is one drawing as the network saw it (28x28, uint8, light ink on black, as MNIST),
the digit a person gave or confirmed for it, the network's prediction, the model's name and the
time; nothing about the person. The web app writes rows with ``FeedbackStore.add``; the trainer
reads them with ``read_samples`` (``python -m model.train --extra FEEDBACK.sqlite``), and

    python -m model.feedback export FEEDBACK.sqlite --format kaggle|idx --out PATH

writes them as a Kaggle ``train.csv`` or as a pair of MNIST IDX files. SQLite and NumPy only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model import cli, data
from model.shape import PIXELS, SIDE

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS samples (
    id         INTEGER PRIMARY KEY,
    sample_id  TEXT NOT NULL UNIQUE,
    created    TEXT NOT NULL,
    model      TEXT NOT NULL,
    prediction INTEGER NOT NULL CHECK (prediction BETWEEN 0 AND 9),
    label      INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    pixels     BLOB NOT NULL CHECK (length(pixels) = {PIXELS})
)
"""
BUSY_TIMEOUT_MS = 10_000  # several workers write at once; each write takes well under a millisecond


class FeedbackError(RuntimeError):
    """The feedback database cannot be read or written; the message says why."""


class FeedbackStore:
    """The feedback database at ``database``: a file path, or a SQLite ``file:`` URI (so
    ``file:/path/feedback.sqlite?mode=ro`` opens it read-only).

    ``max_bytes`` caps the file's size (SQLite's ``max_page_count``): past it, writes fail as
    on a full disk. A connection is opened per call, so one store serves every thread and
    every forked worker; the schema is created on first use, in WAL mode so that readers
    never wait for the writer.
    """

    def __init__(self, database: str | Path, max_bytes: int | None = None) -> None:
        self.database = str(database)
        self.max_bytes = max_bytes

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        uri = self.database.startswith("file:")
        try:
            if not uri:
                Path(self.database).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.database, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as e:
            raise FeedbackError(f"cannot open the database: {getattr(e, 'strerror', None) or e}") from None
        try:
            if self.max_bytes is not None:
                page_size = connection.execute("PRAGMA page_size").fetchone()[0]
                connection.execute(f"PRAGMA max_page_count = {max(1, self.max_bytes // page_size)}")
            with connection:
                yield connection
        except sqlite3.Error as e:
            raise FeedbackError(str(e)) from None
        finally:
            connection.close()

    def add(self, sample_id: str, pixels: np.ndarray, prediction: int, model: str, label: int) -> int:
        """Store one sample; return its row id. ``pixels`` is (28, 28) uint8.

        The same ``sample_id`` sent again replaces the label given before (a person changing
        their answer), so no drawing is counted twice.
        """
        pixels = np.asarray(pixels)
        if pixels.shape != (SIDE, SIDE) or pixels.dtype != np.uint8:
            raise ValueError(f"pixels must be a ({SIDE}, {SIDE}) uint8 array, got {pixels.shape} {pixels.dtype}")
        if not (0 <= prediction <= 9 and 0 <= label <= 9):
            raise ValueError(f"prediction and label must be digits 0-9, got {prediction} and {label}")
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._connect() as db:
            _use_wal(db)
            db.execute(SCHEMA)
            row = db.execute(
                "INSERT INTO samples (sample_id, created, model, prediction, label, pixels) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (sample_id) DO UPDATE SET label = excluded.label, created = excluded.created"
                " RETURNING id",
                (sample_id, created, model, int(prediction), int(label), pixels.tobytes()),
            ).fetchone()
        return int(row[0])


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the database in WAL mode, once: the mode is a property of the file. Switching needs a
    moment alone with it, and SQLite answers "locked" at once rather than waiting when several
    workers make their first write together, hence the retries."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def read_samples(path: str | Path) -> data.Dataset:
    """Every stored sample of the database file at ``path``, oldest first, as a ``Dataset``:
    images (n, 28, 28) uint8 and the labels people gave. Opened read-only; a missing file,
    another kind of file or a database without the samples table raises ``DataError``."""
    path = Path(path)
    if not path.is_file():
        raise data.DataError(path, None, "no such feedback database")
    try:
        rows = _select_samples(path.resolve().as_uri() + "?mode=ro")
    except sqlite3.OperationalError:
        # A WAL database can only be opened read-only where its folder is writable (for the
        # shared-memory file), so e.g. not in another user's Docker volume. Once the app's
        # connections are closed its WAL is checkpointed into the file, which then reads as is.
        try:
            rows = _select_samples(path.resolve().as_uri() + "?immutable=1")
        except sqlite3.Error as e:
            raise data.DataError(path, None, f"cannot read it as a feedback database: {e}") from None
    except sqlite3.Error as e:
        raise data.DataError(path, None, f"cannot read it as a feedback database: {e}") from None
    images = np.zeros((len(rows), SIDE, SIDE), dtype=np.uint8)
    labels = np.zeros(len(rows), dtype=np.int64)
    for k, (label, pixels) in enumerate(rows):
        if not isinstance(pixels, bytes) or len(pixels) != PIXELS or not isinstance(label, int) or not 0 <= label <= 9:
            raise data.DataError(path, f"sample {k + 1}", f"is not a {SIDE}x{SIDE} image with a digit label")
        images[k] = np.frombuffer(pixels, dtype=np.uint8).reshape(SIDE, SIDE)
        labels[k] = label
    return data.Dataset(images, labels, [path])


def _select_samples(uri: str) -> list[tuple]:
    connection = sqlite3.connect(uri, uri=True)
    try:
        return connection.execute("SELECT label, pixels FROM samples ORDER BY id").fetchall()
    finally:
        connection.close()


def export(dataset: data.Dataset, fmt: str, out: str | Path) -> list[Path]:
    """Write ``dataset`` as a Kaggle ``train.csv`` (``fmt="kaggle"``, ``out`` the CSV file) or
    as IDX files (``fmt="idx"``, ``out`` a folder: ``feedback-images-idx3-ubyte`` and
    ``feedback-labels-idx1-ubyte``). Returns the paths written."""
    out = Path(out)
    if fmt == "kaggle":
        if out.is_dir():
            raise data.DataError(out, None, "is a folder: --format kaggle writes one CSV file")
        data.write_kaggle_csv(out, dataset.images, dataset.labels)
        return [out]
    if fmt == "idx":
        paths = [out / "feedback-images-idx3-ubyte", out / "feedback-labels-idx1-ubyte"]
        data.write_idx(paths[0], dataset.images)
        data.write_idx(paths[1], dataset.labels.astype(np.uint8))
        return paths
    raise ValueError(f"unknown export format {fmt!r}: kaggle or idx")


def main(argv: list[str] | None = None) -> int:
    """``python -m model.feedback export DB --format kaggle|idx --out PATH``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model.feedback", description=cli.description(__doc__))
    commands = parser.add_subparsers(dest="command", required=True)
    ex = commands.add_parser("export", help="write the stored samples as a Kaggle CSV or MNIST IDX files")
    ex.add_argument("database", type=Path, help="the feedback database (DIGITS_FEEDBACK_DB)")
    ex.add_argument("--format", choices=["kaggle", "idx"], required=True)
    ex.add_argument("--out", type=Path, required=True, help="the CSV file (kaggle) or a folder (idx)")
    args = parser.parse_args(argv)
    try:
        samples = read_samples(args.database)
        if not len(samples):
            raise data.DataError(args.database, None, "has no samples yet: nothing to export")
        written = export(samples, args.format, args.out)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    counts = np.bincount(samples.labels, minlength=10)
    print(f"exported {len(samples):,} samples ({', '.join(f'{d}: {n:,}' for d, n in enumerate(counts))})")
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
