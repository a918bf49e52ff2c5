"""Generated data for the tests: IDX bytes, a tiny learnable MNIST folder, Kaggle CSVs, and a
feedback database without samples.

These writers are the tests' own (not ``model.data``'s), so that the readers are checked against
files made independently of them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct
from pathlib import Path

import numpy as np

from model import feedback
from model.shape import PIXELS, SIDE


def idx_bytes(array: np.ndarray, magic_type: int = 0x08) -> bytes:
    """The IDX encoding of ``array`` (any shape, stored as uint8) with the type code ``magic_type``."""
    header = struct.pack(">HBB", 0, magic_type, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_mnist(folder: Path, n: int = 300, seed: int = 0) -> Path:
    """Write ``n`` (28, 28) training images and their labels as raw IDX files into ``folder``
    (made if missing) and return it. Each class is one bright horizontal bar at its own height,
    so a network learns them in an epoch or two."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, SIDE, SIDE), np.uint8)
    for k, label in enumerate(labels):
        images[k, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
    folder.mkdir(exist_ok=True)
    (folder / "train-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return folder


def kaggle_text(images: np.ndarray, labels: np.ndarray | None) -> str:
    """Kaggle's CSV of (n, 28, 28) ``images``: a header, then a row per image of its label (when
    ``labels``, shape (n,), is given, as in train.csv) and its 784 pixels (test.csv has no labels)."""
    header = ([] if labels is None else ["label"]) + [f"pixel{i}" for i in range(PIXELS)]
    rows = []
    for k, image in enumerate(images):
        cells = ([] if labels is None else [str(labels[k])]) + [str(v) for v in image.reshape(-1)]
        rows.append(",".join(cells))
    return ",".join(header) + "\n" + "\n".join(rows) + "\n"


def write_kaggle_csv(path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Write ``kaggle_text(images, labels)`` to ``path``."""
    path.write_text(kaggle_text(images, labels))


def empty_feedback_database(database: Path) -> None:
    """Make a feedback database at ``database`` that has its samples table but no samples: one
    sample is stored (which creates the table), then deleted."""
    feedback.FeedbackStore(database).add("x", np.zeros((SIDE, SIDE), np.uint8), 1, "m", 1)
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("DELETE FROM samples")
