"""Shared fixtures: where the MNIST files are, and the data sets read from them."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from model.mnist import MNIST_FILES, default_dir
from tests.support.mirror import Mirror, serving
from tests.support.postgres import PostgresServer, running_postgres


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis keeps a cache (``.hypothesis/``) in the working folder, even without its example
    database: point it at a temporary folder, so that tests write nothing into the tree."""
    scratch = tempfile.TemporaryDirectory(prefix="hypothesis-")
    config.add_cleanup(scratch.cleanup)
    set_hypothesis_home_dir(scratch.name)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder with the four MNIST .gz files: $MNIST_DIR, else ../shared/data/mnist.

    Missing data fails the test under CI (where .ci/run sets MNIST_DIR) and skips it elsewhere.
    """
    path = default_dir()
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        message = f"MNIST files not found in {path} (set MNIST_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mnist_bytes(mnist_dir: Path) -> dict[str, bytes]:
    return {name: (mnist_dir / name).read_bytes() for name in (f"{stem}.gz" for stem in MNIST_FILES)}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server from Debian's package, on loopback, for the whole run (each test makes its
    own database with ``new_database()``); stopped at the end. Missing, it fails the test under CI
    (scripts/test.sh installs it) and skips it elsewhere."""
    try:
        with running_postgres() as server:
            yield server
    except FileNotFoundError as e:
        if os.environ.get("CI"):
            pytest.fail(str(e))
        pytest.skip(str(e))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, bytes]], Mirror]]:
    """``serve({name: bytes})`` starts a loopback HTTP mirror of those files; all are shut down
    (and their threads joined) after the test."""
    numbers = itertools.count()
    with contextlib.ExitStack() as running:

        def start(files: dict[str, bytes]) -> Mirror:
            return running.enter_context(serving(files, tmp_path / f"mirror{next(numbers)}"))

        yield start


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A loopback port with nothing listening: bound (so no one else takes it) but not listening,
    so connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}/"


# -- the web app -------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    """The app as ``create_app`` builds it, with the shipped models and a feedback database of
    its own, and no rate limits (tests/test_ratelimit.py turns them on)."""
    from app import create_app

    return create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "feedback.sqlite"), "RATE_LIMITS": "off"})


@pytest.fixture
def client(app):
    return app.test_client()
