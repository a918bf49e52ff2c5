"""POST /api/feedback: the sample token back with a person's label, stored in SQLite or PostgreSQL."""

from __future__ import annotations

import base64
import http.client
import io
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from itsdangerous import TimestampSigner
from PIL import Image

from app import create_app, samples
from model.feedback import FeedbackError, FeedbackStore
from model.feedback_postgres import POOL_TIMEOUT
from model.shape import PIXELS, SIDE
from scripts import feedback_client
from scripts.feedback_client import Token, send_feedback
from tests.support.canvas import drawn_digit, render_like_canvas
from tests.support.postgres import running_postgres
from tests.support.server import free_port, gunicorn


def predict(client, digit: str = "7", model: str = "digits") -> dict:
    response = client.post(f"/predict?model={model}", data=drawn_digit(digit), content_type="image/png")
    assert response.status_code == 200
    return response.get_json()


def rows(database: str) -> list[tuple]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT model, prediction, label, pixels FROM samples ORDER BY id").fetchall()


def test_a_confirmed_reading_is_stored_as_the_network_saw_it(app, client):
    answer = predict(client, "7")
    response = client.post("/api/feedback", json={"sample": answer["sample"], "label": 7})
    assert response.status_code == 201
    assert response.get_json() == {"id": 1, "label": 7, "prediction": 7, "model": "digits", "stored": True}
    [(model, prediction, label, pixels)] = rows(app.config["FEEDBACK_DB"])
    assert (model, prediction, label) == ("digits", 7, 7)
    # The stored pixels are the 28x28 image the answer says the network saw.
    with Image.open(io.BytesIO(base64.b64decode(answer["input"].split(",", 1)[1]))) as seen:
        np.testing.assert_array_equal(np.frombuffer(pixels, np.uint8).reshape(28, 28), np.asarray(seen))


def test_a_correction_is_stored_with_the_persons_label_and_can_be_changed(app, client):
    answer = predict(client, "1", model="seed")
    first = client.post("/api/feedback", json={"sample": answer["sample"], "label": 4})
    assert first.status_code == 201 and first.get_json()["label"] == 4
    again = client.post("/api/feedback", json={"sample": answer["sample"], "label": 1})
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert [(m, p, label) for m, p, label, _ in rows(app.config["FEEDBACK_DB"])] == [("seed", answer["label"], 1)]


def strokes(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """A (28, 28) uint8 drawing of bars (top, bottom, left, right), light on black, as MNIST."""
    image = np.zeros((SIDE, SIDE), np.uint8)
    for top, bottom, left, right in boxes:
        image[top:bottom, left:right] = 255
    return image


# Drawings the shipped models read with some doubt (a plus sign, an L) besides ones they are sure of.
DRAWINGS = {
    "seven": lambda rng: drawn_digit("7"),
    "zero": lambda rng: drawn_digit("0"),
    "plus": lambda rng: render_like_canvas(strokes((13, 16, 6, 22), (6, 22, 13, 16)), rng),
    "ell": lambda rng: render_like_canvas(strokes((6, 22, 8, 11), (19, 22, 8, 20)), rng),
}


@pytest.mark.parametrize("drawing", DRAWINGS)
@pytest.mark.parametrize("model", ["digits", "seed"])
def test_the_stored_confidence_is_the_readings(app, client, model, drawing):
    """The review orders by the model's confidence in the reading a person answered: stored with the
    sample, it is the /predict answer's, as far as the stored pixels allow: they are the network's
    input rounded to bytes, which moves a reading's probabilities by up to about 0.02."""
    store = FeedbackStore(app.config["FEEDBACK_DB"])
    response = client.post(
        f"/predict?model={model}", data=DRAWINGS[drawing](np.random.default_rng(0)), content_type="image/png"
    )
    assert response.status_code == 200
    answer = response.get_json()
    assert client.post("/api/feedback", json={"sample": answer["sample"], "label": 4}).status_code == 201
    [stored] = store.samples()
    assert (stored.model, stored.prediction, stored.label, stored.status) == (model, answer["label"], 4, "pending")
    assert stored.confidence == pytest.approx(answer["confidence"], abs=0.02)
    # Exactly the model's probability for its reading of the stored pixels, as the trainer would see them.
    network = app.extensions["digits.models"][model].network
    probabilities = network.predict_proba(stored.pixels.reshape(PIXELS, 1) / 255)[:, 0]
    assert stored.confidence == pytest.approx(float(probabilities[stored.prediction]), rel=1e-6)


def test_a_sample_of_a_model_no_longer_served_is_stored_with_unknown_confidence(keyed):
    app, client = keyed
    sample = samples.new_sample(np.full(PIXELS, 0.5), 3, "retired")
    response = client.post("/api/feedback", json={"sample": samples.sign(sample, [KEY]), "label": 5})
    assert response.status_code == 201
    [stored] = FeedbackStore(app.config["FEEDBACK_DB"]).samples()
    assert (stored.model, stored.prediction, stored.label, stored.confidence) == ("retired", 3, 5, None)


def test_a_new_label_for_a_reviewed_sample_sends_it_back_to_review(app, client):
    answer = predict(client, "7")
    assert client.post("/api/feedback", json={"sample": answer["sample"], "label": 7}).status_code == 201
    store = FeedbackStore(app.config["FEEDBACK_DB"])
    assert store.approve_all() == 1
    response = client.post("/api/feedback", json={"sample": answer["sample"], "label": 1})
    assert response.status_code == 201 and response.get_json()["label"] == 1
    [stored] = store.samples()
    assert (stored.label, stored.status) == (1, "pending")
    assert store.counts() == {"pending": 1, "approved": 0, "rejected": 0}


def altered(token: str) -> str:
    payload, rest = token.split(".", 1)
    middle = len(payload) // 2
    return payload[:middle] + ("A" if payload[middle] != "A" else "B") + payload[middle + 1 :] + "." + rest


KEY = b"a fixed test key"


def foreign(token: str) -> str:
    """The same sample, signed by another server (another key)."""
    return samples.sign(samples.verify(token, [KEY], max_age=60), [b"some other server's key"])


@pytest.fixture
def keyed(tmp_path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "SECRET_KEY": KEY})
    return app, app.test_client()


@pytest.mark.parametrize(
    ("make_body", "status", "code"),
    [
        (lambda t: {"sample": t, "label": 10}, 400, "invalid_label"),
        (lambda t: {"sample": t, "label": -1}, 400, "invalid_label"),
        (lambda t: {"sample": t, "label": "7"}, 400, "invalid_label"),
        (lambda t: {"sample": t, "label": 7.0}, 400, "invalid_label"),
        (lambda t: {"sample": t, "label": True}, 400, "invalid_label"),
        (lambda t: {"sample": t, "label": None}, 400, "invalid_label"),
        (lambda t: {"label": 7}, 400, "missing_field"),
        (lambda t: {"sample": t}, 400, "missing_field"),
        (lambda t: {"sample": altered(t), "label": 7}, 400, "invalid_sample"),
        (lambda t: {"sample": foreign(t), "label": 7}, 400, "invalid_sample"),
        (lambda t: {"sample": "not-a-token", "label": 7}, 400, "invalid_sample"),
        (lambda t: {"sample": 12345, "label": 7}, 400, "invalid_sample"),
        (lambda t: {"sample": t + "x" * 9000, "label": 7}, 413, "too_large"),
        (lambda t: [t, 7], 400, "invalid_json"),
    ],
    ids=[
        "label-10",
        "label-negative",
        "label-string",
        "label-float",
        "label-bool",
        "label-null",
        "no-sample",
        "no-label",
        "altered",
        "foreign",
        "garbage-token",
        "number-token",
        "oversized",
        "not-an-object",
    ],
)
def test_bad_feedback_is_a_4xx_and_stores_nothing(keyed, make_body, status, code):
    app, client = keyed
    token = predict(client)["sample"]
    response = client.post("/api/feedback", json=make_body(token))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert not Path(app.config["FEEDBACK_DB"]).exists()


def test_a_sample_older_than_the_maximum_age_is_refused(keyed, monkeypatch):
    app, client = keyed
    now = int(time.time())
    issued = now - app.config["SAMPLE_MAX_AGE"] - 5
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: issued)
        token = predict(client)["sample"]
    response = client.post("/api/feedback", json={"sample": token, "label": 7})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "expired_sample"
    assert not Path(app.config["FEEDBACK_DB"]).exists()
    # Within the age it is taken, and DIGITS_SAMPLE_MAX_AGE sets the age.
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: now - 30)
        token = predict(client)["sample"]
    assert client.post("/api/feedback", json={"sample": token, "label": 7}).status_code == 201
    monkeypatch.setenv("DIGITS_SAMPLE_MAX_AGE", "10")
    strict = create_app({"TESTING": True, "FEEDBACK_DB": app.config["FEEDBACK_DB"], "SECRET_KEY": KEY})
    response = strict.test_client().post("/api/feedback", json={"sample": token, "label": 7})
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "expired_sample")


NEW_KEY, OLD_KEY = "the-new-key-0123456789", "the-old-key-0123456789"


@pytest.mark.parametrize(
    ("issued_under", "verified_under", "status"),
    [
        (OLD_KEY, f"{NEW_KEY},{OLD_KEY}", 201),  # rotated: tokens issued before still count
        (NEW_KEY, f"{NEW_KEY},{OLD_KEY}", 201),
        (f"{NEW_KEY},{OLD_KEY}", NEW_KEY, 201),  # the first key is the one that signs
        (OLD_KEY, NEW_KEY, 400),  # the old key retired: its tokens no longer verify
        (f"{OLD_KEY},{NEW_KEY}", NEW_KEY, 400),
    ],
)
def test_secret_keys_rotate_newest_first(tmp_path, monkeypatch, issued_under, verified_under, status):
    def server(keys: str):
        monkeypatch.setenv("DIGITS_SECRET_KEY", keys)
        return create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite")}).test_client()

    token = predict(server(issued_under))["sample"]
    response = server(verified_under).post("/api/feedback", json={"sample": token, "label": 7})
    assert response.status_code == status
    if status == 201:
        assert response.get_json()["stored"] is True
    else:
        assert response.get_json()["error"]["code"] == "invalid_sample"


@pytest.mark.parametrize(
    ("body", "mime", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"sample=x&label=7", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"", "application/json", 400, "invalid_json"),
    ],
    ids=["malformed-json", "form", "empty"],
)
def test_feedback_must_be_a_json_object(client, body, mime, status, code):
    response = client.post("/api/feedback", data=body, content_type=mime)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_feedback_takes_only_post(client):
    response = client.get("/api/feedback")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


# -- when the database cannot take it -------------------------------------------------------------------


def unwritable(tmp_path, how: str, request) -> dict:
    path = tmp_path / "feedback.sqlite"
    if how == "postgresql-down":
        return {"FEEDBACK_DB": f"postgresql://digits@127.0.0.1:{free_port()}/digits"}  # nothing listens there
    if how == "postgresql-read-only":
        postgres = request.getfixturevalue("postgres")
        url = postgres.new_database()
        postgres.psql(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET default_transaction_read_only = on")
        return {"FEEDBACK_DB": url}
    if how == "read-only":
        # Tests run as root, whom file permissions do not stop: open the database read-only instead.
        app = create_app({"TESTING": True, "FEEDBACK_DB": str(path)})
        client = app.test_client()
        assert client.post("/api/feedback", json={"sample": predict(client)["sample"], "label": 7}).status_code == 201
        return {"FEEDBACK_DB": f"file:{path}?mode=ro", "SECRET_KEY": app.config["SECRET_KEY"]}
    # Full: a database capped at 64 KiB (SQLite's max_page_count), filled up to its cap.
    cap = 64 * 1024
    store = FeedbackStore(path, max_bytes=cap)
    with pytest.raises(FeedbackError, match="full"):
        for k in range(1000):
            store.add(f"filler{k}", np.full((28, 28), k % 256, np.uint8), 1, "digits", 1)
    return {"FEEDBACK_DB": str(path), "FEEDBACK_MAX_BYTES": cap}


UNWRITABLE = {
    "read-only": "readonly",
    "full": "full",
    "postgresql-down": "cannot reach the feedback database within 2 s",
    "postgresql-read-only": "read-only",
}


@pytest.mark.parametrize("how", list(UNWRITABLE))
def test_an_unwritable_database_is_a_clear_503_and_prediction_goes_on(tmp_path, how, request):
    app = create_app({"TESTING": True, **unwritable(tmp_path, how, request)})
    client = app.test_client()
    for _ in range(3):
        answer = predict(client, "0")
        assert answer["label"] == 0
        start = time.monotonic()
        response = client.post("/api/feedback", json={"sample": answer["sample"], "label": 0})
        assert time.monotonic() - start < POOL_TIMEOUT + 1  # not the pool's default 30 s
        assert response.status_code == 503
        error = response.get_json()["error"]
        assert error["code"] == "feedback_unavailable"
        assert error["message"].startswith("feedback cannot be stored right now")
        assert UNWRITABLE[how] in error["message"]
    assert predict(client, "1")["label"] == 1
    app.extensions["digits.feedback"].close()


# -- many workers at once --------------------------------------------------------------------------------

WORKERS, PER_WORKER = 8, 200


def signed_tokens(n: int, seed: int = 0) -> list[Token]:
    """``n`` sample tokens signed with KEY, as (token, sample_id, the label to give)."""
    return feedback_client.signed_tokens(n, KEY, seed)


def test_concurrent_feedback_from_many_workers_loses_nothing():
    """8 gunicorn workers storing 1,600 samples at once, 16 connections: every one is there."""
    tokens = signed_tokens(WORKERS * PER_WORKER)
    env = {"DIGITS_SECRET_KEY": KEY.decode()}
    with gunicorn(env=env, workers=WORKERS) as server:
        with ThreadPoolExecutor(max_workers=16) as pool:
            batches = [tokens[k::16] for k in range(16)]
            statuses = [s for batch in pool.map(send_feedback, [server.url] * 16, batches) for s in batch]
        database = server.feedback_db
        assert statuses == [201] * len(tokens)
        with sqlite3.connect(database) as db:
            stored = dict(db.execute("SELECT sample_id, label FROM samples").fetchall())
    assert stored == {sample_id: label for _, sample_id, label in tokens}


def test_two_replicas_share_one_postgresql_database_and_lose_nothing(postgres):
    """Two gunicorn servers (replicas with one secret key) of two workers each storing 1,600 samples at
    once in one PostgreSQL database, and tokens issued by one replica redeemed at the other."""
    url = postgres.new_database()
    env = {"DIGITS_SECRET_KEY": KEY.decode(), "DIGITS_FEEDBACK_DB": url}
    tokens = signed_tokens(1600)
    with gunicorn(env=env, workers=2) as first, gunicorn(env=env, workers=2) as second:
        issued = []  # (token, sample_id, label) from each replica's own /predict, sent to the other
        for server, other in ((first, second), (second, first)):
            for digit in "017" * 4:
                answer = post_image(server.url, drawn_digit(digit))
                issued.append((other.url, (answer["sample"], "", int(digit))))
        assert all(send_feedback(where, [token]) == [201] for where, token in issued)
        with ThreadPoolExecutor(max_workers=16) as pool:
            batches = [tokens[k::16] for k in range(16)]
            replicas = [(first, second)[k % 2].url for k in range(16)]
            statuses = [s for batch in pool.map(send_feedback, replicas, batches) for s in batch]
        assert statuses == [201] * len(tokens)
    stored = postgres.psql("SELECT sample_id, label FROM samples", url.rsplit("/", 1)[1]).splitlines()
    pairs = dict(line.split("|") for line in stored)
    assert len(pairs) == len(tokens) + len(issued)
    assert {k: int(v) for k, v in pairs.items() if k in {t[1] for t in tokens}} == {t[1]: t[2] for t in tokens}
    assert sorted(int(v) for k, v in pairs.items() if k not in {t[1] for t in tokens}) == sorted([0, 1, 7] * 8)


def post_image(server_url: str, png: bytes) -> dict:
    """``/predict``'s answer from a server for ``png``; it must be a 200."""
    url = urlsplit(server_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("POST", "/predict", png, {"Content-Type": "image/png"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, body[:200]
    return json.loads(body)


def test_postgresql_going_away_and_coming_back_while_serving(tmp_path):
    """The app starts while PostgreSQL is down; it reads digits all along, answers feedback 503
    within the pool's 2 s, and stores again within 5 s of the server's return, twice, without a
    restart; each outage leaves one line in the log, no traceback."""

    def feedback_status(app_url: str, digit: str) -> tuple[int, float]:
        answer = post_image(app_url, drawn_digit(digit))  # a reading, whatever the database is doing
        assert answer["label"] == int(digit)
        start = time.monotonic()
        [status] = send_feedback(app_url, [(answer["sample"], "", int(digit))])
        return status, time.monotonic() - start

    def stored_again_within(app_url: str, seconds: float) -> float:
        back = time.monotonic()
        while (status := feedback_status(app_url, "7")[0]) != 201:
            assert status == 503
            assert time.monotonic() - back < seconds, f"feedback still {status} {seconds} s after PostgreSQL's return"
            time.sleep(0.1)
        return time.monotonic() - back

    with running_postgres() as database:
        database.stop()
        env = {"DIGITS_FEEDBACK_DB": database.url(), "DIGITS_SECRET_KEY": KEY.decode()}
        with gunicorn(env=env, workers=1) as server:
            for _ in range(2):
                status, seconds = feedback_status(server.url, "0")
                assert status == 503 and seconds < POOL_TIMEOUT + 1
                database.start()
                stored_again_within(server.url, 5)
                assert feedback_status(server.url, "1")[0] == 201
                database.stop()
            log = server.log()
        database.start()
        assert database.psql("SELECT count(*) FROM samples") == "4"  # each round's 7 once, and its 1
    complaints = [line for line in log.splitlines() if "feedback database:" in line]
    assert 1 <= len(complaints) <= 2 and all("failed" in line for line in complaints), log[-3000:]
    assert "Traceback" not in log, log[-3000:]


REFUSED = {
    # a password the server's scram-sha-256 check rejects, for the one role that must give one
    "wrong password": (
        lambda pg: pg.password_url("not-the-password"),
        'password authentication failed for user "digits_app"',
    ),
    "unknown role": (lambda pg: f"postgresql://nobody@127.0.0.1:{pg.port}/postgres", 'role "nobody" does not exist'),
}


@pytest.mark.parametrize("how", list(REFUSED))
def test_credentials_postgresql_refuses_are_one_line_in_the_log_and_a_503(postgres, caplog, how):
    url, reason = REFUSED[how]
    app = create_app({"TESTING": True, "FEEDBACK_DB": url(postgres)})
    client = app.test_client()
    for _ in range(3):
        answer = predict(client, "7")
        start = time.monotonic()
        response = client.post("/api/feedback", json={"sample": answer["sample"], "label": 7})
        assert time.monotonic() - start < POOL_TIMEOUT + 1
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "feedback_unavailable"
        assert "not-the-password" not in response.get_data(as_text=True)
    app.extensions["digits.feedback"].close()
    logged = [r.getMessage() for r in caplog.records if r.name == "psycopg.pool"]
    assert len(logged) == 1, logged
    assert reason in logged[0] and "\n" not in logged[0]
    assert "not-the-password" not in logged[0]


def test_the_right_password_stores_feedback(postgres):
    database = postgres.new_database().rsplit("/", 1)[1]
    postgres.psql(f"GRANT ALL ON DATABASE {database} TO digits_app; ALTER DATABASE {database} OWNER TO digits_app")
    app = create_app({"TESTING": True, "FEEDBACK_DB": postgres.password_url(database=database)})
    client = app.test_client()
    answer = predict(client, "7")
    response = client.post("/api/feedback", json={"sample": answer["sample"], "label": 7})
    app.extensions["digits.feedback"].close()
    assert response.status_code == 201 and response.get_json()["stored"] is True
    assert postgres.psql("SELECT label FROM samples", database) == "7"
