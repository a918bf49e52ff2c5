"""Files as the project writes and reads them: atomic writes (a file appears whole, or the old one
stays as it was) and ``.npz`` archives read without pickle."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success, flush it to disk and
    rename it over ``path``. On any exception (Ctrl-C included) the temporary file is removed
    and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class UnreadableArchive(ValueError):
    """An ``.npz`` that cannot be read; ``problem`` says why, for the caller's own message."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read whole (``allow_pickle=False``).

    Raises ``UnreadableArchive`` for a missing, unreadable, truncated or non-``.npz`` file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableArchive(path, "no such file") from None
    except OSError as e:
        raise UnreadableArchive(path, f"cannot be read ({e.strerror or e})") from None
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as e:
        raise UnreadableArchive(path, f"is truncated or not an .npz file ({e})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise UnreadableArchive(path, "is a single .npy array, not an .npz archive")
    try:
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as e:
        raise UnreadableArchive(path, f"is truncated or not an .npz file ({e})") from None
