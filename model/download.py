"""Fetch the four MNIST files from public mirrors, verified before they land on disk.

``python -m model.data download DIR [--mirror URL ...] [--timeout SECONDS]`` (or
``python -m model.download DIR ...``) puts ``train-images-idx3-ubyte.gz`` and the other three
files in DIR. Each file is checked by the MD5 of its *uncompressed* contents (mirrors differ
in how they gzip), so a file is written only when it is the real MNIST data, and files already
there and valid are not fetched again.

Mirrors are tried in order: ``--mirror`` (repeatable) overrides ``$DIGITS_MNIST_MIRRORS``
(base URLs separated by whitespace or commas), which overrides ``DEFAULT_MIRRORS``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import io
import os
import re
import sys
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from model import cli
from model.fileio import atomic_write
from model.mnist import MNIST_FILES
from model.progress import ProgressBar

DEFAULT_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
MIRRORS_ENV = "DIGITS_MNIST_MIRRORS"

_CHUNK = 1 << 16


class DownloadError(ValueError):
    """A file could not be fetched from any mirror; ``failures`` holds (mirror, reason) pairs."""

    def __init__(self, message: str, filename: str | None = None, failures: Sequence[tuple[str, str]] = ()) -> None:
        self.filename = filename
        self.failures = list(failures)
        super().__init__(message)


class _BadDataError(Exception):
    """What a mirror sent is not the expected file (bad gzip, wrong contents)."""


def configured_mirrors(mirrors: Sequence[str] | None = None) -> list[str]:
    """The base URLs to try, in order: ``mirrors`` if given, else ``$DIGITS_MNIST_MIRRORS``,
    else ``DEFAULT_MIRRORS``. Each gets a trailing ``/`` so file names can be appended.
    """
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "")
        mirrors = re.split(r"[\s,]+", env) if env.strip() else DEFAULT_MIRRORS
    bases = [m.strip() for m in mirrors if m.strip()]
    if not bases:
        raise DownloadError("no mirrors to download from")
    return [b if b.endswith("/") else b + "/" for b in bases]


def download_mnist(
    directory: str | Path,
    mirrors: Sequence[str] | None = None,
    *,
    timeout: float = 30.0,
    stream: TextIO | None = None,
) -> list[Path]:
    """Make sure ``directory`` holds the four verified MNIST ``.gz`` files; returns their paths.

    Files already present with the right contents are kept; the rest are fetched from the
    first mirror that serves them intact (see ``configured_mirrors``). ``timeout`` is in
    seconds per network operation. Progress and one line per file go to ``stream`` (stderr by
    default). Raises ``DownloadError`` when every mirror fails for a file; files finished
    before that stay, and nothing partial or unverified is ever left at a target path.
    """
    directory = Path(directory)
    stream = stream if stream is not None else sys.stderr
    bases = configured_mirrors(mirrors)
    directory.mkdir(parents=True, exist_ok=True)  # fail before downloading, not after
    paths = []
    for stem, md5 in MNIST_FILES.items():
        path = directory / f"{stem}.gz"
        paths.append(path)
        if path.is_file():
            try:
                with path.open("rb") as f:
                    _verify(f, md5)
            except _BadDataError as e:
                _say(stream, f"{path.name}: present but invalid ({e}); downloading it again")
            else:
                _say(stream, f"{path.name}: ok (already present)")
                continue
        body, base = _fetch_verified(path.name, md5, bases, timeout, stream)
        with atomic_write(path) as f:
            f.write(body.getbuffer())
        _say(stream, f"{path.name}: ok ({_size(body.getbuffer().nbytes)} from {base})")
    return paths


def _fetch_verified(name: str, md5: str, bases: list[str], timeout: float, stream: TextIO) -> tuple[io.BytesIO, str]:
    """The body of ``name`` from the first mirror whose copy verifies, and that mirror."""
    failures = []
    for i, base in enumerate(bases):
        try:
            body = _fetch(base + name, name, timeout, stream)
            _verify(body, md5)
            return body, base
        except (_BadDataError, OSError, http.client.HTTPException, ValueError) as e:
            # OSError covers URLError/HTTPError, refused connections and timeouts; ValueError
            # a malformed mirror URL. Any of them only rules out this mirror.
            reason = _reason(e)
            failures.append((base, reason))
            more = "; trying the next mirror" if i + 1 < len(bases) else ""
            _say(stream, f"{name}: {base} failed ({reason}){more}")
    detail = "; ".join(f"{base} ({reason})" for base, reason in failures)
    raise DownloadError(f"could not download {name}: {detail}", name, failures)


def _fetch(url: str, name: str, timeout: float, stream: TextIO) -> io.BytesIO:
    """The whole response body, read in chunks behind a progress bar."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else 0
        # Without a length there is nothing to measure progress against, so no bar.
        bar = ProgressBar(total, label=f"{name} ", unit="B", stream=stream, enabled=None if total else False)
        body = io.BytesIO()  # one in-memory copy: verified, then written out from the same buffer
        try:
            while chunk := response.read(_CHUNK):
                body.write(chunk)
                bar.update(body.tell())
        finally:
            bar.close()
    if not body.tell():
        raise _BadDataError("empty response")
    body.seek(0)
    return body


def _verify(f: BinaryIO, md5: str) -> None:
    """Check that ``f`` is a gzip stream whose uncompressed contents have MD5 ``md5``.

    Decompresses piecewise: the training images are 47 MB uncompressed and need not all be
    in memory. Leaves ``f`` where it started.
    """
    start = f.tell()
    digest = hashlib.md5()
    try:
        with gzip.GzipFile(fileobj=f, mode="rb") as g:
            while chunk := g.read(1 << 20):
                digest.update(chunk)
    except EOFError:
        raise _BadDataError("gzip stream is truncated") from None
    except (OSError, zlib.error) as e:
        raise _BadDataError(f"not a valid gzip stream: {e}") from None
    finally:
        f.seek(start)
    if digest.hexdigest() != md5:
        raise _BadDataError(f"uncompressed MD5 is {digest.hexdigest()}, expected {md5}")


def _reason(e: BaseException) -> str:
    """A short, single-line description of why a mirror failed."""
    if isinstance(e, urllib.error.HTTPError):
        text = f"HTTP {e.code} {e.reason}"
    elif isinstance(e, urllib.error.URLError):
        reason = e.reason
        text = getattr(reason, "strerror", None) or str(reason)
    elif isinstance(e, http.client.IncompleteRead):
        text = f"connection closed early: got {len(e.partial)} bytes, {e.expected} more expected"
    elif isinstance(e, OSError) and e.strerror:
        text = e.strerror
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())  # server-supplied text must not break the one-line messages


def _size(n: int) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _say(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


# -- command line -----------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``directory``, ``--mirror`` and ``--timeout`` to ``parser`` (for ``run``)."""
    parser.add_argument("directory", type=Path, help="where to put the four MNIST .gz files")
    parser.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help=f"base URL to fetch from; repeat to try several in order (default: ${MIRRORS_ENV} "
        f"if set, else {' '.join(DEFAULT_MIRRORS)})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="network timeout per connection attempt or read (default: 30)",
    )


def run(args: argparse.Namespace) -> int:
    """Download as ``args`` says; 0 on success, 1 (with a one-line message on stderr) on failure."""
    try:
        download_mnist(args.directory, args.mirror, timeout=args.timeout)
    except (DownloadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m model.download DIR [--mirror URL ...] [--timeout SECONDS]``."""
    parser = argparse.ArgumentParser(prog="python -m model.download", description=cli.description(__doc__))
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
