"""Slow clients cannot starve the server (issue 11, item 1).

Against a real gunicorn as gunicorn.conf.py configures it: 256 connections trickle requests a byte
a second for 60 s (half in their headers, half in a declared 10 kB body) while other clients post
/predict, and every /predict succeeds with p99 under 500 ms; each slow client is disconnected by
its deadline (the headers: gunicorn's keepalive; the body: DIGITS_REQUEST_TIMEOUT, answered 408).
A SQLite write waiting for another process's lock does not hold up the worker's other requests.
Without gevent (the Flask test client) the body deadline still holds, checked between reads.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from app import create_app
from app.settings import DEFAULTS
from scripts.slow_clients import BODY, HEADERS, probe, trickle
from tests.support.canvas import drawn_digit
from tests.support.server import configured, gunicorn

SECONDS = 60  # the floor for the slow-client run
CONNECTIONS = 256
P99_MS = 500
MARGIN = 2.0  # seconds past a deadline before a slow client counts as kept too long
LOCK_SECONDS = 5.0


def post(url: str, path: str, data: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_slow_clients_do_not_starve_predict_and_are_disconnected_in_time():
    header_deadline = float(configured()["keepalive"])
    body_deadline = float(DEFAULTS["REQUEST_TIMEOUT"])
    with gunicorn() as server:
        with probe(server.url, probers=2) as probed:
            held = trickle(server.url, CONNECTIONS, SECONDS)
        log = server.log()
    predict = probed[0]
    print(
        f"slow headers: {held[HEADERS].describe()}\nslow body: {held[BODY].describe()}\n/predict: {predict.describe()}"
    )

    assert predict.count >= 10 * SECONDS, predict.describe()  # the probers were busy the whole time
    assert not predict.failures, predict.describe()
    assert predict.percentile(99) < P99_MS, predict.describe()

    # Every slot was refilled each time the server let a slow client go, so each kind kept its
    # half of the connections for the whole run.
    headers, body = held[HEADERS], held[BODY]
    assert headers.longest <= header_deadline + MARGIN, headers.describe()
    assert headers.disconnected >= CONNECTIONS // 2 * int(SECONDS // (header_deadline + MARGIN)), headers.describe()
    # No answer, as there was no request yet: closed, or reset when a byte arrived as it closed.
    assert set(headers.outcomes) <= {"closed", "reset"}, headers.describe()
    assert body.longest <= body_deadline + MARGIN, body.describe()
    assert body.disconnected >= CONNECTIONS // 2 * int(SECONDS // (body_deadline + MARGIN)), body.describe()
    assert set(body.outcomes) <= {"408", "reset"} and body.outcomes["408"] > 0, body.describe()
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, log[-3000:]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_lock_wait_does_not_hold_up_the_worker(tmp_path, request, backend):
    """One worker; another process holds the feedback database's write lock for 5 s while a
    feedback request waits for it: /predict requests to that worker go on answering quickly, and
    the feedback is stored once the lock is released. SQLite's wait runs in gevent's thread pool;
    psycopg's yields to gevent by itself (its waits are on gevent's patched select)."""
    env = {"DIGITS_FEEDBACK_DB": request.getfixturevalue("postgres").new_database()} if backend == "postgresql" else {}
    with gunicorn(env=env, workers=1) as server:
        status, reading = post(server.url, "/predict", drawn_digit("7"), "image/png")
        assert status == 200
        feedback = json.dumps({"sample": reading["sample"], "label": 7}).encode()
        status, _ = post(server.url, "/api/feedback", feedback, "application/json")
        assert status == 201  # the database exists now, in WAL mode

        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK[backend], server.feedback_db, str(LOCK_SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            locked_at = time.monotonic()
            answer: dict = {}

            def send_feedback() -> None:
                answer["status"], answer["body"] = post(server.url, "/api/feedback", feedback, "application/json")
                answer["after"] = time.monotonic() - locked_at

            sender = threading.Thread(target=send_feedback)
            with probe(server.url, probers=2) as probed:
                sender.start()
                time.sleep(LOCK_SECONDS + 1)
            sender.join(timeout=30)
            assert holder.wait(timeout=10) == 0
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            holder.stdout.close()
    predict = probed[0]
    assert answer["status"] == 201 and answer["body"]["stored"] is True
    assert answer["after"] >= LOCK_SECONDS - 1, answer  # it did wait for the lock
    assert predict.count >= 20 and not predict.failures, predict.describe()
    assert predict.percentile(99) < P99_MS, predict.describe()
    # A request held behind the lock would take about LOCK_SECONDS, which a p99 over thousands of
    # requests would not show: none may come near it.
    assert predict.percentile(100) < LOCK_SECONDS / 2 * 1000, predict.describe()


# Hold the write lock on the feedback database argv[1] for argv[2] seconds, saying "locked" once held.
HOLD_LOCK = {
    "sqlite": """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
""",
    "postgresql": """
import psycopg, sys, time
with psycopg.connect(sys.argv[1]) as db:
    db.execute("LOCK TABLE samples IN EXCLUSIVE MODE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
""",
}


class Trickle(io.BytesIO):
    """A request body that arrives a byte at a time, ``delay`` seconds apart."""

    def __init__(self, data: bytes, delay: float) -> None:
        super().__init__(data)
        self.delay = delay

    def read(self, size: int | None = -1) -> bytes:
        time.sleep(self.delay)
        return super().read(0 if size == 0 else 1)


@pytest.mark.parametrize("path", ["/predict", "/api/feedback"])
def test_without_gevent_a_slow_body_is_answered_408(tmp_path, path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "REQUEST_TIMEOUT": 0.2})
    data = drawn_digit("7") if path == "/predict" else json.dumps({"sample": "x", "label": 1}).encode()
    content_type = "image/png" if path == "/predict" else "application/json"
    started = time.monotonic()
    response = app.test_client().post(
        path, input_stream=Trickle(data, 0.02), content_type=content_type, content_length=len(data)
    )
    assert response.status_code == 408
    assert response.get_json()["error"]["code"] == "request_timeout"
    assert "0.2 seconds" in response.get_json()["error"]["message"]
    assert time.monotonic() - started < 1.0  # stopped at the deadline, not at the end of the body


def test_without_gevent_a_body_in_time_is_read_whole(tmp_path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "REQUEST_TIMEOUT": 30})
    png = drawn_digit("7")
    multipart = (
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\nContent-Type: image/png\r\n\r\n'
        + png
        + b"\r\n--b--\r\n"
    )
    client = app.test_client()
    # Slow, but well within the deadline: every byte is read, through both kinds of body parsing.
    raw = client.post("/predict", input_stream=Trickle(png, 0.0005), content_type="image/png", content_length=len(png))
    form = client.post(
        "/predict",
        input_stream=Trickle(multipart, 0.0005),
        content_type="multipart/form-data; boundary=b",
        content_length=len(multipart),
    )
    assert raw.status_code == 200 and raw.get_json()["label"] == 7
    assert form.status_code == 200 and form.get_json()["label"] == 7


def test_the_feedback_database_is_untouched_by_a_timed_out_request(tmp_path):
    db = tmp_path / "f.sqlite"
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(db), "REQUEST_TIMEOUT": 0.1})
    client = app.test_client()
    reading = client.post("/predict", data=drawn_digit("7"), content_type="image/png").get_json()
    data = json.dumps({"sample": reading["sample"], "label": 7}).encode()
    response = client.post(
        "/api/feedback", input_stream=Trickle(data, 0.01), content_type="application/json", content_length=len(data)
    )
    assert response.status_code == 408
    assert not db.exists()  # nothing was stored, so the database was never even created
