"""People's own handwriting: the feedback samples the web app stores, in SQLite, reviewed before they train.

Each row is one drawing as the network saw it (28x28, uint8, light ink on black, as MNIST),
the digit a person gave or confirmed for it, the network's prediction and its confidence, the
model's name, the time and the review status; nothing about the person. The web app writes rows
with ``FeedbackStore.add``; every new or re-labelled sample is ``pending`` until someone approves
or rejects it (the review page, or this module's command line); the trainer reads the approved
ones with ``read_samples`` (``python -m model.train --extra FEEDBACK.sqlite``).

    python -m model.feedback review FEEDBACK.sqlite --list [--status pending|approved|rejected|all]
    python -m model.feedback review FEEDBACK.sqlite --approve IDS | --reject IDS | --approve-all
    python -m model.feedback export FEEDBACK.sqlite --format kaggle|idx --out PATH [--status approved|...|all]

``review`` lists the samples or sets their status (IDS: ids and ranges, ``3,5,9-12``); ``export``
writes them as a Kaggle ``train.csv`` or as a pair of MNIST IDX files. SQLite and NumPy only.

The schema's version is the database's ``PRAGMA user_version`` (``SCHEMA_VERSION``); a database
of the first schema, which had no version and no review status, is upgraded in place the first
time a ``FeedbackStore`` opens it, its rows becoming ``pending``. One that cannot be written
(a read-only file or ``mode=ro``) is read as it is, every row ``pending``, and refuses changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from model import cli, data
from model.feedback_rows import (
    APPROVED,
    CONFIDENT,
    INDEX,
    LOCATIONS,
    ORDERS,
    PENDING,
    REJECTED,
    SCHEMA_VERSION,
    STATUSES,
    Decided,
    FeedbackError,
    StoredSample,
    check_page,
    check_status,
    id_list,
    is_postgres,
    location,
    new_row,
    page_sql,
    redacted,
    shown_pairs,
    stored_sample,
    upsert_sql,
)
from model.shape import PIXELS, SIDE

# What the app, the trainer and the tests use of model.feedback_rows, by way of this module.
__all__ = [
    "APPROVED",
    "CONFIDENT",
    "LOCATIONS",
    "ORDERS",
    "PENDING",
    "REJECTED",
    "SCHEMA_VERSION",
    "STATUSES",
    "Decided",
    "FeedbackError",
    "FeedbackStore",
    "StoredSample",
    "database_argument",
    "export",
    "is_postgres",
    "location",
    "main",
    "open_store",
    "read_samples",
    "redacted",
    "review_command",
    "status_counts",
]

if TYPE_CHECKING:
    from model.feedback_postgres import PostgresStore

MAX_IDS = 1_000_000  # ids one review command may name: a typo like 1-10000000000 is not a review

_STATUS_COLUMN = f"status TEXT NOT NULL DEFAULT '{PENDING}' CHECK (status IN ({', '.join(repr(s) for s in STATUSES)}))"
_CONFIDENCE_COLUMN = "confidence REAL CHECK (confidence BETWEEN 0 AND 1)"  # NULL: stored before version 2
# Columns of version 2 come last, where version 1's upgrade (ALTER TABLE ADD COLUMN) puts them.
SCHEMA = f"""
CREATE TABLE samples (
    id         INTEGER PRIMARY KEY,
    sample_id  TEXT NOT NULL UNIQUE,
    created    TEXT NOT NULL,
    model      TEXT NOT NULL,
    prediction INTEGER NOT NULL CHECK (prediction BETWEEN 0 AND 9),
    label      INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    pixels     BLOB NOT NULL CHECK (length(pixels) = {PIXELS}),
    {_STATUS_COLUMN},
    {_CONFIDENCE_COLUMN}
)
"""
BUSY_TIMEOUT_MS = 10_000  # several workers write at once; each write takes well under a millisecond


T = TypeVar("T")


class FeedbackStore:
    """The feedback database at ``database``: a file path, or a SQLite ``file:`` URI (so
    ``file:/path/feedback.sqlite?mode=ro`` opens it read-only).

    ``max_bytes`` caps the file's size (SQLite's ``max_page_count``): past it, writes fail as
    on a full disk. A connection is opened per call, so one store serves every thread and
    every forked worker; the schema is created, or an older one upgraded, on first use, in WAL
    mode so that readers never wait for the writer. A database file that does not exist reads as
    empty and is not created by reading (``samples``, ``counts``, ``missing``) or by review calls
    that change nothing (``set_status``, ``decide``, ``approve_all``); only ``add`` creates it.
    A database of the first schema that cannot be written is read as it is, every sample
    ``pending``; a change to it, as to any database that cannot be written, raises ``FeedbackError``.
    """

    # SQLite waits for another writer's lock inside C, holding the thread: a server runs its calls in
    # a thread pool, away from the event loop (app.cooperative.off_event_loop).
    blocks_event_loop = True

    def __init__(self, database: str | Path, max_bytes: int | None = None) -> None:
        self.database = str(database)
        self.max_bytes = max_bytes

    def close(self) -> None:
        """Nothing to close: each call opens and closes its own connection (as ``PostgresStore.close``)."""

    def _exists(self) -> bool:
        # A URI may name its file in many ways: SQLite decides (and in mode=ro reports a missing one).
        return self.database.startswith("file:") or Path(self.database).is_file()

    @contextlib.contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
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
            if write:
                _use_wal(connection)
            _ensure_schema(connection, write)
            with connection:
                yield connection
        except sqlite3.Error as e:
            if _cannot_write(e):
                raise FeedbackError(f"the feedback database cannot be written ({e}): {_MAKE_WRITABLE}") from None
            raise FeedbackError(str(e)) from None
        finally:
            connection.close()

    def add(
        self,
        sample_id: str,
        pixels: np.ndarray,
        prediction: int,
        model: str,
        label: int,
        confidence: float | None = None,
    ) -> int:
        """Store one sample, ``pending`` review; return its row id. ``pixels`` is (28, 28) uint8,
        ``confidence`` the model's probability for ``prediction`` (None: not known).

        The same ``sample_id`` sent again replaces the label given before (a person changing
        their answer), so no drawing is counted twice; a label other than the stored one puts the
        sample back to ``pending`` (it has not been reviewed), the same label again changes nothing
        (so a rejected sample cannot be queued again by resending it).
        """
        row = new_row(sample_id, pixels, prediction, model, label, confidence)
        with self._connect(write=True) as db:
            stored = db.execute(upsert_sql("?"), row).fetchone()
        return int(stored[0])

    def samples(
        self,
        status: str | None = None,
        order: str = "newest",
        limit: int | None = 60,
        offset: int = 0,
        confident: float = CONFIDENT,
    ) -> list[StoredSample]:
        """A page of the stored samples: those of ``status`` (None: every status), in ``order``
        (one of ``ORDERS``), at most ``limit`` (None: all) after skipping ``offset``.

        "newest" and "oldest" go by the time the label was given; "disagreements" puts first
        the samples whose label differs from a reading at least ``confident`` (or of unknown
        confidence), newest first within each group.
        """
        check_page(status, order, limit, offset)
        if not self._exists():
            return []
        query = page_sql(order, status is not None, lambda name: f":{name}")
        parameters = {"status": status, "confident": float(confident), "limit": -1 if limit is None else limit}
        with self._connect(write=False) as db:
            rows = db.execute(query, {**parameters, "offset": offset}).fetchall()
        return [stored_sample(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many samples there are of each status, every one of ``STATUSES`` included."""
        if not self._exists():
            return dict.fromkeys(STATUSES, 0)
        with self._connect(write=False) as db:
            rows = db.execute("SELECT status, count(*) FROM samples GROUP BY status").fetchall()
        return {**dict.fromkeys(STATUSES, 0), **dict(rows)}

    def missing(self, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` that no stored sample has, in ascending order."""
        wanted = id_list(ids)
        if not self._exists():
            return sorted(set(wanted))
        with self._connect(write=False) as db:
            stored = db.execute(
                "SELECT id FROM samples WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(wanted),)
            ).fetchall()
        return sorted(set(wanted) - {row[0] for row in stored})

    def set_status(self, ids: Sequence[int], status: str) -> int:
        """Give the samples ``ids`` the review ``status``, whatever label each has now; return how
        many changed (those that had it already did not). Ids of no stored sample are ignored.
        A reviewer who decided on what a page showed wants ``decide``."""
        check_status(status)
        wanted = id_list(ids)
        if not self._exists() or not wanted:
            return 0
        with self._connect(write=True) as db:
            changed = db.execute(
                "UPDATE samples SET status = ? WHERE status != ? AND id IN (SELECT value FROM json_each(?))",
                (status, status, json.dumps(wanted)),
            ).rowcount
        return changed

    def decide(self, shown: Mapping[int, int], status: str) -> Decided:
        """Give the review ``status`` to the samples of ``shown`` (row id -> the label the reviewer
        saw) whose label is still that one. A sample re-labelled since (which also made it pending
        again) is left as it is and reported in ``Decided.stale``; ids of no stored sample are ignored."""
        pairs = shown_pairs(shown, status)
        if not self._exists() or not pairs:
            return Decided(0, ())
        seen = "SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS label FROM json_each(:pairs)"
        with self._connect(write=True) as db:
            # The check and the change are one statement, and the stale ones are looked up in the same
            # transaction: no label given in between can be approved unseen or go unreported.
            changed = db.execute(
                f"UPDATE samples SET status = :status WHERE status != :status AND (id, label) IN ({seen})",
                {"status": status, "pairs": json.dumps(pairs)},
            ).rowcount
            stale = db.execute(
                f"SELECT s.id FROM samples AS s JOIN ({seen}) AS shown ON s.id = shown.id"
                " WHERE s.label != shown.label ORDER BY s.id",
                {"pairs": json.dumps(pairs)},
            ).fetchall()
        return Decided(changed, tuple(row[0] for row in stale))

    def approve_all(self) -> int:
        """Approve every pending sample; return how many."""
        if not self._exists():
            return 0
        with self._connect(write=True) as db:
            return db.execute(f"UPDATE samples SET status = '{APPROVED}' WHERE status = '{PENDING}'").rowcount


def open_store(database: str | Path, max_bytes: int | None = None) -> FeedbackStore | PostgresStore:
    """The store at ``database`` (``location``'s form, or text it accepts): ``FeedbackStore`` (SQLite)
    for a path or a ``file:`` URI, ``model.feedback_postgres.PostgresStore`` for a PostgreSQL URL
    (``max_bytes`` is SQLite's cap; PostgreSQL's space is its administrator's)."""
    database = location(database)
    if is_postgres(database):
        from model.feedback_postgres import PostgresStore  # psycopg only where it is used

        return PostgresStore(str(database))
    return FeedbackStore(database, max_bytes)


_MAKE_WRITABLE = (
    "let the server write the file and its folder, or point DIGITS_FEEDBACK_DB at a copy it may write; "
    "until then it can be read, not changed"
)


def _cannot_write(e: sqlite3.Error) -> bool:
    """Whether SQLite refused a write because the database cannot be written (SQLITE_READONLY and its kinds)."""
    return getattr(e, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY


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


def _newer_schema(version: int) -> str:
    return (
        f"the feedback database has schema version {version}, newer than this code knows ({SCHEMA_VERSION}): "
        "it was written by a newer version of digits; run that version, or point DIGITS_FEEDBACK_DB at another file"
    )


def _ensure_schema(db: sqlite3.Connection, write: bool) -> None:
    """Create the schema in a new database, or upgrade an older one in place; raise
    ``FeedbackError`` for one newer than this code. The upgrade holds the write lock from the
    first look at the version (``BEGIN IMMEDIATE``), so of several workers starting together one
    upgrades and the others then find it done. For reading (``write`` false), an older database
    that cannot be written is shown as the current schema instead (``_read_as_current``)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise FeedbackError(_newer_schema(version))
    try:
        _use_wal(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FeedbackError(_newer_schema(version))
            if version < SCHEMA_VERSION:
                _upgrade(db)
            db.commit()
        except BaseException:
            db.rollback()
            raise
    except sqlite3.Error as e:
        if _cannot_write(e) and not write:
            _read_as_current(db)
            return
        more = f": {_MAKE_WRITABLE}" if _cannot_write(e) else ""
        raise FeedbackError(
            f"cannot bring the feedback database to schema version {SCHEMA_VERSION}: {e}{more}"
        ) from None


def _read_as_current(db: sqlite3.Connection) -> None:
    """Show this connection a database of the first schema as the current one, every sample pending,
    without writing it: a view in the connection's own temporary schema, which SQLite looks in
    first, so ``samples`` in a query names the view (and a write to it fails)."""
    columns = {row[1] for row in db.execute("PRAGMA main.table_info(samples)")}
    if not columns:  # no table at all: reading it says "no such table", as for any other file
        return
    status = "status" if "status" in columns else f"'{PENDING}' AS status"
    confidence = "confidence" if "confidence" in columns else "NULL AS confidence"
    db.execute(
        "CREATE TEMP VIEW samples AS SELECT id, sample_id, created, model, prediction, label, pixels,"
        f" {status}, {confidence} FROM main.samples"
    )


def _upgrade(db: sqlite3.Connection) -> None:
    """Version 0 (no database yet) or 1 (no review status) -> ``SCHEMA_VERSION``, in the open transaction."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(samples)")}
    if not columns:
        db.execute(SCHEMA)
    else:  # version 1: adding columns rewrites no rows, and the default makes every one pending
        if "status" not in columns:
            db.execute(f"ALTER TABLE samples ADD COLUMN {_STATUS_COLUMN}")
        if "confidence" not in columns:
            db.execute(f"ALTER TABLE samples ADD COLUMN {_CONFIDENCE_COLUMN}")
    db.execute(INDEX)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


# -- reading for the trainer and the export: read-only, never upgrading ------------------------------


def read_samples(path: str | Path, statuses: Iterable[str] = (APPROVED,)) -> data.Dataset:
    """The stored samples of the database file at ``path`` whose status is one of ``statuses``,
    oldest first, as a ``Dataset``: images (n, 28, 28) uint8 and the labels people gave.

    Opened read-only, so a database of schema version 1 is read as it is, all its samples
    pending. A missing file, another kind of file, a database without the samples table or
    of a newer schema raises ``DataError``; ``status_counts`` says how many were left out.
    """
    wanted = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    for status in wanted:
        check_status(status)
    path = location(path)
    if is_postgres(path):
        rows = _from_postgres(path, lambda store: store.labelled(wanted))
    else:
        path = Path(path)
        marks = ", ".join("?" * len(wanted))
        rows = _read_only(
            path,
            lambda db: db.execute(
                f"SELECT label, pixels FROM samples WHERE {_status_of(db, path)} IN ({marks}) ORDER BY id", wanted
            ).fetchall(),
        )
    images = np.zeros((len(rows), SIDE, SIDE), dtype=np.uint8)
    labels = np.zeros(len(rows), dtype=np.int64)
    for k, (label, pixels) in enumerate(rows):
        if not isinstance(pixels, bytes) or len(pixels) != PIXELS or not isinstance(label, int) or not 0 <= label <= 9:
            raise data.DataError(path, f"sample {k + 1}", f"is not a {SIDE}x{SIDE} image with a digit label")
        images[k] = np.frombuffer(pixels, dtype=np.uint8).reshape(SIDE, SIDE)
        labels[k] = label
    return data.Dataset(images, labels, [path])


def status_counts(path: str | Path) -> dict[str, int]:
    """How many samples of each status the database file at ``path`` holds (every one of
    ``STATUSES`` included), read as ``read_samples`` reads it and raising as it does."""
    path = location(path)
    if is_postgres(path):
        return _from_postgres(path, lambda store: store.counts())
    path = Path(path)
    rows = _read_only(
        path, lambda db: db.execute(f"SELECT {_status_of(db, path)}, count(*) FROM samples GROUP BY 1").fetchall()
    )
    return {**dict.fromkeys(STATUSES, 0), **dict(rows)}


def _from_postgres(url: str, query: Callable[[PostgresStore], T]) -> T:
    """``query`` on the PostgreSQL store at ``url``, its errors as ``DataError`` (the trainer's and the
    export's), its connections closed after."""
    store = open_store(url)
    try:
        return query(store)
    except FeedbackError as e:
        raise data.DataError(redacted(url), None, str(e)) from None
    finally:
        store.close()


def review_command(path: str | Path, *options: str) -> str:
    """The shell command that reviews the database at ``path``, e.g. ``review_command(p, "--list")``."""
    return shlex.join(["python", "-m", "model.feedback", "review", str(path), *options])


def _read_only(path: Path, query: Callable[[sqlite3.Connection], T]) -> T:
    if not path.is_file():
        raise data.DataError(path, None, "no such feedback database")
    try:
        try:
            return _query(path.resolve().as_uri() + "?mode=ro", query)
        except sqlite3.OperationalError:
            # A WAL database can only be opened read-only where its folder is writable (for the
            # shared-memory file), so e.g. not in another user's Docker volume. Once the app's
            # connections are closed its WAL is checkpointed into the file, which then reads as is.
            return _query(path.resolve().as_uri() + "?immutable=1", query)
    except sqlite3.Error as e:
        raise data.DataError(path, None, f"cannot read it as a feedback database: {e}") from None


def _query(uri: str, query: Callable[[sqlite3.Connection], T]) -> T:
    connection = sqlite3.connect(uri, uri=True)
    try:
        return query(connection)
    finally:
        connection.close()


def _status_of(db: sqlite3.Connection, path: Path) -> str:
    """The SQL for a row's status: its column, or in a database of version 1 ``'pending'``."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise data.DataError(path, None, _newer_schema(version))
    columns = {row[1] for row in db.execute("PRAGMA table_info(samples)")}
    return "status" if "status" in columns else f"'{PENDING}'"


# -- export ------------------------------------------------------------------------------------------


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


# -- the command line --------------------------------------------------------------------------------


def parse_ids(text: str) -> list[int]:
    """``"3,5,9-12"`` -> ``[3, 5, 9, 10, 11, 12]``: ids and inclusive ranges, comma-separated,
    returned sorted and without repeats; raises ``argparse.ArgumentTypeError`` for anything else."""
    ids: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d{1,18})\s*(?:-\s*(\d{1,18})\s*)?", part)
        if match is None:
            raise argparse.ArgumentTypeError(
                f"{part.strip()!r} is not a sample id or a range of ids: give them as in 3,5,9-12"
            )
        first, last = int(match[1]), int(match[2] or match[1])
        if first < 1 or last < first:
            raise argparse.ArgumentTypeError(f"{part.strip()!r}: ids start at 1 and a range goes up, as in 9-12")
        if len(ids) + last - first + 1 > MAX_IDS:
            raise argparse.ArgumentTypeError(f"{text!r} names more than {MAX_IDS:,} ids")
        ids.update(range(first, last + 1))
    return sorted(ids)


def _ranges(ids: Sequence[int]) -> str:
    """Sorted ids written short: ``[3, 5, 6, 7]`` -> ``"3, 5-7"``."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' if n != 1 else ''}"


def _counts_text(counts: dict[str, int]) -> str:
    return f"{_plural(sum(counts.values()), 'sample')}: " + ", ".join(f"{counts[s]:,} {s}" for s in STATUSES)


def _table(rows: Sequence[StoredSample]) -> list[str]:
    """The samples as aligned text lines, a header first."""
    header = ("id", "time (UTC)", "label", "read as", "confidence", "model", "status")
    cells = [
        (
            str(s.id),
            s.created[:19].replace("T", " "),
            str(s.label),
            str(s.prediction),
            "-" if s.confidence is None else f"{s.confidence:.1%}",
            s.model,
            s.status + (" (disagrees)" if s.disagrees else ""),
        )
        for s in rows
    ]
    widths = [max(len(r[k]) for r in [header, *cells]) for k in range(len(header))]
    right = {0, 2, 3, 4}  # numbers
    return [
        "  ".join(c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths))).rstrip()
        for r in [header, *cells]
    ]


def _review(args: argparse.Namespace) -> int:
    if not is_postgres(args.database) and not args.database.is_file():
        raise data.DataError(args.database, None, "no such feedback database")
    store = open_store(args.database)
    try:
        return _review_in(store, args)
    finally:
        store.close()  # a PostgreSQL pool's connections and threads


def _review_in(store: FeedbackStore | PostgresStore, args: argparse.Namespace) -> int:
    if args.list:
        status = None if args.status == "all" else args.status
        rows = store.samples(status, order=args.order, limit=args.limit)
        if rows:
            print("\n".join(_table(rows)))
        else:
            print(f"no {'' if status is None else status + ' '}samples")
        print(_counts_text(store.counts()))
        return 0
    if args.approve_all:
        print(f"approved {_plural(store.approve_all(), 'pending sample')}")
    else:
        ids, status = (args.approve, APPROVED) if args.approve is not None else (args.reject, REJECTED)
        unknown = store.missing(ids)
        if unknown:
            print(
                f"error: {args.database}: no sample has the id {_ranges(unknown)}; nothing was changed "
                f"(--list shows the ids)",
                file=sys.stderr,
            )
            return 1
        changed = store.set_status(ids, status)
        already = f" ({len(ids) - changed:,} already {status})" if changed < len(ids) else ""
        print(f"{status} {_plural(changed, 'sample')}{already}")
    print("now " + _counts_text(store.counts()))
    return 0


def _export(args: argparse.Namespace) -> int:
    statuses = STATUSES if args.status == "all" else (args.status,)
    samples = read_samples(args.database, statuses)
    counts = status_counts(args.database)
    left_out = {s: n for s, n in counts.items() if s not in statuses and n}
    if not len(samples):
        if not sum(counts.values()):
            raise data.DataError(args.database, None, "has no samples yet: nothing to export")
        others = ", ".join(f"{n:,} {s}" for s, n in left_out.items())
        raise data.DataError(
            args.database,
            None,
            f"has no {args.status} samples: nothing to export ({others}; review them with "
            f"{review_command(args.database, '--list')}, or choose them with --status)",
        )
    written = export(samples, args.format, args.out)
    digits = np.bincount(samples.labels, minlength=10)
    kind = "" if args.status == "all" else f"{args.status} "
    print(
        f"exported {_plural(len(samples), kind + 'sample')} ({', '.join(f'{d}: {n:,}' for d, n in enumerate(digits))})"
    )
    if left_out:
        print("left out " + ", ".join(f"{n:,} {s}" for s, n in left_out.items()) + " (--status all takes every one)")
    print("wrote " + ", ".join(map(str, written)))
    return 0


_DATABASE_HELP = "the feedback database (DIGITS_FEEDBACK_DB): a SQLite file or a postgresql:// URL"


def database_argument(text: str) -> str | Path:
    """argparse's type for a feedback database: ``location``, its refusal as a usage error."""
    try:
        return location(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line's parser, and its ``review`` subcommand's (which checks its options' combinations)."""
    parser = argparse.ArgumentParser(prog="python -m model.feedback", description=cli.description(__doc__))
    commands = parser.add_subparsers(dest="command", required=True)
    review = commands.add_parser(
        "review",
        help="list the stored samples with their review status, or approve or reject them",
        description="Samples people labelled start pending; only approved ones train (python -m model.train "
        "--extra) unless --extra-pending. IDS: sample ids and ranges, comma-separated, e.g. 3,5,9-12 "
        "(--list shows the ids).",
    )
    review.add_argument("database", type=database_argument, help=_DATABASE_HELP)
    action = review.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="print the samples as a table, and the counts per status")
    action.add_argument(
        "--approve",
        type=parse_ids,
        metavar="IDS",
        help="approve these samples, by id, whatever label each has now: --list them just before",
    )
    action.add_argument(
        "--reject",
        type=parse_ids,
        metavar="IDS",
        help="reject these samples (they never train), by id, whatever label each has now",
    )
    action.add_argument("--approve-all", action="store_true", help="approve every pending sample")
    review.add_argument(
        "--status", choices=[*STATUSES, "all"], help="with --list: the samples of this status (default: pending)"
    )
    review.add_argument(
        "--order",
        choices=ORDERS,
        help=f"with --list: newest or oldest first, or first those whose label contradicts a reading at least "
        f"{CONFIDENT * 100:.0f}%% sure (default: newest)",
    )
    review.add_argument("--limit", type=cli.number(int), metavar="N", help="with --list: at most N (default: all)")
    ex = commands.add_parser("export", help="write the stored samples as a Kaggle CSV or MNIST IDX files")
    ex.add_argument("database", type=database_argument, help=_DATABASE_HELP)
    ex.add_argument("--format", choices=["kaggle", "idx"], required=True)
    ex.add_argument("--out", type=Path, required=True, help="the CSV file (kaggle) or a folder (idx)")
    ex.add_argument(
        "--status",
        choices=[*STATUSES, "all"],
        default=APPROVED,
        help="the samples of this review status, or all of them (default: approved)",
    )
    return parser, review


def main(argv: list[str] | None = None) -> int:
    """``python -m model.feedback review DB ...`` or ``export DB ...``; returns the exit status."""
    parser, review = build_parser()
    args = parser.parse_args(argv)
    if args.command == "review":
        given = [f"--{name}" for name in ("status", "order", "limit") if getattr(args, name) is not None]
        if given and not args.list:
            review.error(f"{', '.join(given)} go{'es' if len(given) == 1 else ''} with --list")
        args.status, args.order = args.status or PENDING, args.order or "newest"
    try:
        return _review(args) if args.command == "review" else _export(args)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except FeedbackError as e:
        print(f"error: {args.database}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
