"""A real ``gunicorn wsgi:app`` on a free loopback port, for the tests, benchmarks and scripts.

``gunicorn(...)`` starts it as gunicorn.conf.py (or another config) configures it, but bound to
127.0.0.1, with a feedback database and its error log in a temporary folder, and without rate
limits unless asked for (what runs it measures something else, from one address); it yields once
``/healthz`` answers and stops the server (and waits for it) when the block ends.
"""

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

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "gunicorn.conf.py"


@dataclass
class Server:
    url: str
    process: subprocess.Popen  # the gunicorn master
    feedback_db: str  # DIGITS_FEEDBACK_DB of the server
    log_path: Path  # gunicorn's error log (stderr), kept while the server runs

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        """What gunicorn has written to its error log so far."""
        return self.log_path.read_text(errors="replace")


@functools.cache
def configured(config: Path = CONFIG) -> dict[str, str]:
    """gunicorn's settings as ``config`` gives them (``gunicorn --print-config``), by name, as text.

    Asked of gunicorn rather than read by running the file here: the file patches the standard
    library for gevent, which the calling process must not be."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(config), "--print-config", "wsgi:app"],
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
def gunicorn(
    env: Mapping[str, str] | None = None,
    workers: int | None = None,
    timeout: float = 60,
    config: Path = CONFIG,
    settings_from_caller: bool = True,
) -> Iterator[Server]:
    """The running server; see the module docstring.

    ``env`` adds to (or, for ``DIGITS_FEEDBACK_DB``, ``DIGITS_RATE_LIMITS`` and
    ``PROMETHEUS_MULTIPROC_DIR``, replaces) the
    environment; ``workers`` overrides the config's count; ``settings_from_caller=False`` leaves the
    caller's ``DIGITS_*`` variables out, so the server runs on the defaults (rate limits off still).
    The access log (one line a request) is dropped; the error log goes to a file, so a chatty server
    never fills a pipe nobody reads.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gunicorn-") as scratch:
        base = {k: v for k, v in os.environ.items() if settings_from_caller or not k.startswith("DIGITS_")}
        own = {
            "DIGITS_FEEDBACK_DB": str(Path(scratch) / "feedback.sqlite"),
            "DIGITS_RATE_LIMITS": "off",
            # /metrics' counts, here rather than in a folder of /tmp that a killed server would leave behind.
            "PROMETHEUS_MULTIPROC_DIR": str(Path(scratch) / "metrics"),
        }
        env = {**base, **own, **(env or {})}
        log_path = Path(scratch) / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "-c", str(config), "--bind", f"127.0.0.1:{port}"]
        if workers is not None:
            command += ["--workers", str(workers)]
        with open(log_path, "w") as log:
            process = subprocess.Popen([*command, "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        server = Server(f"http://127.0.0.1:{port}", process, env["DIGITS_FEEDBACK_DB"], log_path)
        try:
            _wait_until_healthy(server, timeout)
            yield server
        finally:
            _stop(process)


def _wait_until_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}: {server.log()[-2000:]}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(server.url + "/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"gunicorn did not answer on {server.url} within {timeout} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
