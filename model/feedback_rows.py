"""What both feedback stores keep and how they are asked for it: the statuses and orders, a stored
sample, the checks on what is stored, the SQL both backends run, and where a database is.

``model.feedback`` (SQLite, the command line, the trainer's read) and ``model.feedback_postgres``
both build on this; neither imports the other's internals. NumPy only.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.shape import SIDE

STATUSES = ("pending", "approved", "rejected")
PENDING, APPROVED, REJECTED = STATUSES
ORDERS = ("newest", "oldest", "disagreements")
SCHEMA_VERSION = 2  # 1 is the first schema, which left user_version at 0
# A reading at least this confident that a person contradicts is a "disagreement", unless the caller
# says otherwise (the web app passes its LOW_CONFIDENCE setting).
CONFIDENT = 0.6

# Every column the review's filters and orders look at, so that they read this index alone and
# not the table, whose rows are mostly pixels; the rows of a page are fetched by id afterwards.
INDEX = "CREATE INDEX IF NOT EXISTS samples_review ON samples (status, created, id, label, prediction, confidence)"
# What "disagrees" means, the one definition: the label contradicts a reading at least :confident
# (or of unknown confidence). StoredSample.disagrees is this column, and "disagreements" orders by it.
_DISAGREES = "(label != prediction AND (confidence IS NULL OR confidence >= :confident))"
_ORDER_KEYS = {
    "newest": [("created", "DESC"), ("id", "DESC")],
    "oldest": [("created", "ASC"), ("id", "ASC")],
    "disagreements": [("disagrees", "DESC"), ("created", "DESC"), ("id", "DESC")],
}


def upsert_sql(mark: str) -> str:
    """The statement ``add`` runs, in either backend; ``mark`` is its placeholder (``?`` or ``%s``).

    The same ``sample_id`` again replaces the label; a new label puts the sample back to pending
    and dates it now, the same label changes nothing; a resend without a confidence keeps the one known."""
    same = "samples.label = excluded.label"
    return (
        "INSERT INTO samples (sample_id, created, model, prediction, label, pixels, confidence)"
        f" VALUES ({', '.join([mark] * 7)})"
        " ON CONFLICT (sample_id) DO UPDATE SET label = excluded.label,"
        f" created = CASE WHEN {same} THEN samples.created ELSE excluded.created END,"
        f" status = CASE WHEN {same} THEN samples.status ELSE '{PENDING}' END,"
        " confidence = coalesce(excluded.confidence, samples.confidence)"
        " RETURNING id"
    )


def page_sql(order: str, by_status: bool, named: Callable[[str], str]) -> str:
    """The query of a page of ``samples`` in ``order``, in either backend: the parameters ``status``
    (if ``by_status``), ``confident``, ``limit`` and ``offset``, each spelt ``named(name)``."""
    keys = _ORDER_KEYS[order]
    inner = ", ".join(f"{column} {direction}" for column, direction in keys)
    outer = ", ".join(f"page.{column} {direction}" for column, direction in keys)
    where = f"WHERE status = {named('status')}" if by_status else ""
    disagrees = _DISAGREES.replace(":confident", named("confident"))
    return (
        "SELECT s.id, s.created, s.model, s.prediction, s.confidence, s.label, s.status, page.disagrees, s.pixels"
        f" FROM (SELECT id, created, {disagrees} AS disagrees FROM samples {where}"
        f" ORDER BY {inner} LIMIT {named('limit')} OFFSET {named('offset')}) AS page"
        f" JOIN samples AS s ON s.id = page.id ORDER BY {outer}"
    )


class FeedbackError(RuntimeError):
    """The feedback database cannot be read or written; the message says why."""


@dataclass(frozen=True, eq=False)  # compared by identity: NumPy arrays have no one truth value
class StoredSample:
    """One stored sample as the review shows it; ``pixels`` is (28, 28) uint8, light ink on black.

    ``disagrees``: the label contradicts a reading at least as confident as the ``confident`` that
    ``FeedbackStore.samples`` was given (or of unknown confidence), computed by the same SQL that
    orders "disagreements first", so that what a sample says and where it is put always agree.
    """

    id: int
    created: str  # ISO 8601, UTC: when the label was last given
    model: str
    prediction: int
    confidence: float | None  # the model's probability for ``prediction``; None for rows stored before version 2
    label: int
    status: str
    disagrees: bool
    pixels: np.ndarray


@dataclass(frozen=True)
class Decided:
    """What ``FeedbackStore.decide`` did: how many samples took the status, and the ids of those not
    changed because their label is no longer the one shown (ascending)."""

    changed: int
    stale: tuple[int, ...]


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
LOCATIONS = "a file path, a file: URI (SQLite) or postgresql://USER[:PASSWORD]@HOST[:PORT]/DB"


def location(text: str | Path) -> str | Path:
    """Where a feedback database is, as a setting or a command line gives it: a PostgreSQL URL or a
    SQLite ``file:`` URI as the text itself, anything else a file path (``Path``). A URL of another
    scheme raises ``ValueError``: taken as a path it would quietly be a file of that name."""
    if isinstance(text, Path):
        return text
    scheme = _SCHEME.match(text)
    if text.startswith("file:"):
        return text
    if scheme is None:
        return Path(text)
    if scheme.group(1).lower() in ("postgresql", "postgres"):
        return text
    raise ValueError(f"{scheme.group(1)}:// is not a feedback database this app can use; give {LOCATIONS}")


def redacted(database: str | Path) -> str:
    """``database`` with a URL's password, if any, as ``***``: safe for a log or a message."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", str(database))


def is_postgres(database: str | Path) -> bool:
    """Whether ``database`` (``location``'s form) is a PostgreSQL URL."""
    return isinstance(database, str) and database.split("://", 1)[0].lower() in ("postgresql", "postgres")


def new_row(
    sample_id: str, pixels: np.ndarray, prediction: int, model: str, label: int, confidence: float | None
) -> tuple:
    """``add``'s arguments checked, as the row's (sample_id, created, model, prediction, label, pixels,
    confidence), ``created`` now; raises ``ValueError`` for a bad one. Both backends store this."""
    pixels = np.asarray(pixels)
    if pixels.shape != (SIDE, SIDE) or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be a ({SIDE}, {SIDE}) uint8 array, got {pixels.shape} {pixels.dtype}")
    if not (0 <= prediction <= 9 and 0 <= label <= 9):
        raise ValueError(f"prediction and label must be digits 0-9, got {prediction} and {label}")
    if confidence is not None and not (math.isfinite(confidence) and 0 <= confidence <= 1):
        raise ValueError(f"confidence must be a probability from 0 to 1 or None, got {confidence}")
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    known = None if confidence is None else float(confidence)
    return (sample_id, created, model, int(prediction), int(label), pixels.tobytes(), known)


def check_page(status: str | None, order: str, limit: int | None, offset: int) -> None:
    """Refuse (``ValueError``) what ``samples`` cannot page by."""
    check_status(status, none_allowed=True)
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}: one of {', '.join(ORDERS)}")
    if (limit is not None and limit < 0) or offset < 0:
        raise ValueError(f"limit and offset must not be negative, got {limit} and {offset}")


def shown_pairs(shown: Mapping[int, int], status: str) -> list[list[int]]:
    """``decide``'s arguments checked: [[id, label the reviewer saw], ...]; ``ValueError`` for a bad one."""
    check_status(status)
    pairs = [[operator.index(i), operator.index(label)] for i, label in shown.items()]
    if any(not 0 <= label <= 9 for _, label in pairs):
        raise ValueError(f"labels are digits 0-9, got {sorted({label for _, label in pairs})}")
    return pairs


def check_status(status: str | None, none_allowed: bool = False) -> None:
    if status not in STATUSES and not (none_allowed and status is None):
        raise ValueError(f"unknown status {status!r}: one of {', '.join(STATUSES)}")


def id_list(ids: Iterable[int]) -> list[int]:
    return [operator.index(i) for i in ids]  # ints only: "3" or 3.0 is a caller's mistake


def stored_sample(row: tuple) -> StoredSample:
    id_, created, model, prediction, confidence, label, status, disagrees, pixels = row
    image = np.frombuffer(pixels, dtype=np.uint8).reshape(SIDE, SIDE)
    return StoredSample(id_, created, model, prediction, confidence, label, status, bool(disagrees), image)
