"""A real gunicorn serving the app on a free loopback port, for tests (and benchmarks)."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    feedback_db: str  # DIGITS_FEEDBACK_DB of the server
    log_path: Path  # gunicorn's error log (stderr), kept while the server runs

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        """What gunicorn has written to its error log so far."""
        return self.log_path.read_text(errors="replace")


@functools.cache
def configured() -> dict[str, str]:
    """gunicorn's settings as gunicorn.conf.py gives them (``gunicorn --print-config``), by name, as text.

    Asked of gunicorn rather than read by running the file here: the file patches the standard
    library for gevent, which this process must not be."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", "wsgi:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pairs = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(env: Mapping[str, str] | None = None, workers: int = 2, timeout: float = 60) -> Iterator[Server]:
    """Start ``gunicorn wsgi:app`` as gunicorn.conf.py configures it, but bound to 127.0.0.1 on a
    free port (and, unless ``env`` names one, with a feedback database in a temporary folder);
    wait until /healthz answers; stop it (and wait for it) afterwards. Its error log goes to a
    file (``Server.log``), so a chatty server never fills a pipe nobody reads."""
    port = free_port()
    scratch = tempfile.TemporaryDirectory(prefix="feedback-")
    env = {"DIGITS_FEEDBACK_DB": str(Path(scratch.name) / "feedback.sqlite"), **(env or {})}
    log_path = Path(scratch.name) / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "wsgi:app"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn did not answer on {url} within {timeout} s")
            time.sleep(0.1)
        yield Server(url, process, env["DIGITS_FEEDBACK_DB"], log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        scratch.cleanup()
