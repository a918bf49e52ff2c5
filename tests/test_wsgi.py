"""Serving: a real gunicorn from gunicorn.conf.py, and start-up that refuses a bad model."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.canvas import drawn_digit
from tests.support.paths import ROOT
from tests.support.server import free_port, gunicorn


def request(url: str, data: bytes | None = None, content_type: str | None = None):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type} if content_type else {})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def test_gunicorn_serves_health_and_predictions():
    with gunicorn() as server:
        status, _, body = request(server.url + "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, headers, body = request(server.url + "/predict", drawn_digit("7"), "image/png")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body)["label"] == 7
        status, headers, body = request(server.url + "/")
        assert status == 200 and "Content-Security-Policy" in headers and b"<canvas" in body
        log = server.log()
    assert server.process.returncode is not None  # stopped
    assert "Using worker: gevent" in log
    # Patched once, early, in gunicorn.conf.py: gevent has nothing to warn about.
    assert "MonkeyPatchWarning" not in log and "Traceback" not in log, log


def test_each_worker_runs_one_thread_after_reading_digits():
    """gevent serves a worker's connections from one thread, and NumPy's BLAS keeps to one thread
    (gunicorn.conf.py sets that before the app is imported): a worker that has read digits, with
    nothing stored yet (feedback runs in gevent's thread pool), is one thread."""
    with gunicorn(workers=2) as server:
        for _ in range(20):  # both workers read, whichever accepts
            assert request(server.url + "/predict", drawn_digit("7"), "image/png")[0] == 200
        workers = worker_pids(server.process.pid)
        assert len(workers) == 2
        assert {pid: thread_count(pid) for pid in workers} == dict.fromkeys(workers, 1)


def worker_pids(master: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            if re.search(rf"^PPid:\s+{master}$", status.read_text(), re.M):
                found.append(int(status.parent.name))
    return found


def thread_count(pid: int) -> int:
    return int(re.search(r"^Threads:\s+(\d+)$", Path(f"/proc/{pid}/status").read_text(), re.M)[1])


def test_gunicorn_refuses_to_start_without_a_good_model(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(ROOT / "model" / "seed.npz", models / "seed.npz")
    (models / "digits.npz").write_bytes(b"garbage")
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}", "wsgi:app"],
        cwd=ROOT,
        env={**os.environ, "DIGITS_MODEL_DIR": str(models)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "digits: cannot start" in line]
    assert len(lines) == 1
    assert f"{models / 'digits.npz'}: is truncated or not an .npz file" in lines[0]
    assert "Traceback" not in result.stderr
