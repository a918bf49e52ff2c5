"""Hostile and malformed requests (scripts/hostile_corpus.py) against one real gunicorn.

Each case must get one of its expected statuses; every 4xx the app answers is the documented JSON
error and never quotes the upload; afterwards the server still answers /healthz, its workers are
the same processes, and they hold no file open that they did not hold at the start.

The server runs with a TMPDIR of its own, so every temporary file it makes (Werkzeug spools large
uploads to one) lands there: after the server stops, that folder must be empty. /tmp, /var/tmp and
the test's own temporary folder are compared before and after too, but only for names the
server's stack would use (SERVER_TEMP_NAME), since on a shared machine other processes come and
go there. A temporary file that is never named (Werkzeug's spooled uploads) but never closed
either shows up as a file a worker still holds open.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.hostile_corpus import MARKER, Answer, Case, corpus, send
from tests.support.server import Server, gunicorn

HOST = "127.0.0.1"
CASES = corpus()
# The body deadline of the server here: shorter than the default (15 s) so that the slow cases
# are quick, and longer than the slow cases that should be served (about 3 s) take.
REQUEST_TIMEOUT = 6

# The error codes each status may carry: the documented ones, and Werkzeug's own for 404/405 and
# for a body that ends before its chunked framing does (the client went away): bad_request.
CODES = {
    400: {
        "bad_request",
        "invalid_image",
        "invalid_json",
        "invalid_base64",
        "invalid_data_url",
        "missing_field",
        "invalid_field",
        "too_many_files",
        "unknown_model",
        "invalid_label",
        "invalid_sample",
    },
    404: {"not_found"},
    405: {"method_not_allowed"},
    408: {"request_timeout"},
    413: {"too_large"},
    415: {"unsupported_media_type"},
    422: {"no_digit"},
}

# Names the server's stack would give a file or folder of its own outside its TMPDIR (anything
# made with Python's tempfile goes to TMPDIR, which is checked whole).
SERVER_TEMP_NAME = re.compile(r"wgunicorn-|gunicorn|werkzeug|flask|digits|pil|pillow", re.I)


def children(pid: int) -> set[int]:
    """The PIDs whose parent is ``pid`` (from /proc/*/status)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{entry}/status").read_text()
            ppid = re.search(r"^PPid:\s+(\d+)", status, re.M)
            if ppid and int(ppid[1]) == pid:
                found.add(int(entry))
    return found


def open_files(pid: int) -> set[str]:
    """What the process's file descriptors point to, files only (no sockets, pipes, devices)."""
    targets = set()
    with contextlib.suppress(FileNotFoundError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("/") and not target.startswith("/dev/"):
                    targets.add(target)
    return targets


def temp_entries() -> set[str]:
    """The entries of the temporary folders (the test process's, /tmp, /var/tmp) that the server's
    stack could have made (SERVER_TEMP_NAME)."""
    entries = set()
    for folder in {tempfile.gettempdir(), "/tmp", "/var/tmp"}:
        with contextlib.suppress(FileNotFoundError):
            entries |= {os.path.join(folder, n) for n in os.listdir(folder) if SERVER_TEMP_NAME.match(n)}
    return entries


@dataclass
class Served:
    server: Server
    port: int
    tmpdir: Path  # the server's TMPDIR
    first_workers: set[int]
    workers: set[int]  # as of the last case
    baseline_files: set[str]
    stack: contextlib.ExitStack
    temp_before: set[str]

    def stop(self) -> None:
        self.stack.close()

    def current_workers(self) -> set[int]:
        return children(self.server.process.pid)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmpdir = tmp_path_factory.mktemp("server-tmp")
    temp_before = temp_entries()
    stack = contextlib.ExitStack()
    try:
        env = {"TMPDIR": str(tmpdir), "DIGITS_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
        server = stack.enter_context(gunicorn(env=env, workers=2))
        deadline = time.monotonic() + 20
        while len(workers := children(server.process.pid)) < 2:
            assert time.monotonic() < deadline, f"gunicorn has workers {workers}, expected 2"
            time.sleep(0.1)
        assert healthz(server) == 200
        time.sleep(0.3)
        baseline = set().union(*(open_files(w) for w in workers))
        port = int(server.url.rsplit(":", 1)[1])
        yield Served(server, port, tmpdir, set(workers), set(workers), baseline, stack, temp_before)
    finally:
        stack.close()


def healthz(server: Server) -> int:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def leaked_files(served: Served, workers: set[int]) -> set[str]:
    """Files the workers hold open that they did not hold before the first case (waits a little,
    as a worker may still be closing a request that the client has already seen answered)."""
    leaked: set[str] = set()
    for _ in range(20):
        leaked = set().union(*(open_files(w) for w in workers)) - served.baseline_files
        if not leaked:
            break
        time.sleep(0.1)
    return leaked


def check_json_error(answer: Answer) -> None:
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    assert len(answer.body) < 2000, f"an error answer of {len(answer.body)} bytes"
    body = json.loads(answer.body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, error
    assert error["code"] in CODES.get(answer.status, set()), f"{answer.status} with code {error['code']!r}"
    assert isinstance(error["message"], str) and error["message"].strip(), error


def check_no_echo(case: Case, answer: Answer) -> None:
    """Neither the marker nor any sampled stretch of the upload comes back in an error answer."""
    text = answer.body.decode("latin-1") + repr(answer.headers)
    assert MARKER not in text, f"the answer quotes the upload: {text[:300]!r}"
    if isinstance(case.body, bytes) and len(case.body) >= 96:
        for start in (len(case.body) // 4, len(case.body) // 2, 3 * len(case.body) // 4):
            window = case.body[start : start + 24]
            if len(set(window)) > 2:
                assert window not in answer.body, f"the answer quotes the upload at byte {start}"


def check_prediction(answer: Answer) -> None:
    body = json.loads(answer.body)
    assert body["label"] in range(10)
    assert len(body["probabilities"]) == 10
    assert abs(sum(body["probabilities"]) - 1) <= 5e-4  # ten probabilities rounded to 4 decimals


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_hostile_request(served: Served, case: Case) -> None:
    answer = send(case, HOST, served.port)
    if not case.expected:
        assert answer is None
    else:
        assert answer is not None
        assert answer.status in case.expected, f"{answer.status}: {answer.body[:300]!r}"
        if case.app:
            assert answer.headers.get("x-content-type-options") == "nosniff"
        if 400 <= answer.status < 500:
            check_no_echo(case, answer)
            if case.app:
                check_json_error(answer)
        if answer.status == 200 and case.method == "POST":
            check_prediction(answer)
    # The server still answers, with the same workers, and no worker holds a new file open.
    assert healthz(served.server) == 200
    workers, served.workers = served.workers, served.current_workers()
    assert served.workers == workers, f"workers {sorted(workers)} became {sorted(served.workers)}"
    assert not leaked_files(served, served.workers)


def test_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 30
    assert {c.method for c in CASES} >= {"POST", "GET", "PUT"}
    assert any(c.pace for c in CASES) and any(c.hangup_after is not None for c in CASES)
    assert any(not isinstance(c.body, bytes) for c in CASES)  # streamed bodies


def test_zz_workers_survived_and_nothing_was_left_behind(served: Served) -> None:
    """Runs last: the same worker processes as at the start; then, with the server stopped, its
    TMPDIR is empty and the temporary folders hold nothing new."""
    assert healthz(served.server) == 200
    assert served.current_workers() == served.first_workers
    process = served.server.process
    served.stop()
    assert process.poll() is not None, "gunicorn is still running"
    assert not children(process.pid)
    assert list(served.tmpdir.iterdir()) == []
    new = temp_entries() - served.temp_before
    assert not new, f"left in the temporary folders: {sorted(new)}"
