"""GET /metrics: known traffic, counted exactly, in one process and across gunicorn's workers."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app, prometheus
from tests.support.canvas import drawn_digit, strokes
from tests.support.requests import post_raw
from tests.support.scrape import Series, parse, value
from tests.support.server import children, gunicorn


def scrape(client) -> Series:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == prometheus.CONTENT_TYPE_LATEST
    return parse(response.get_data(as_text=True))


def test_every_declared_metric_is_served_with_its_help_and_type(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.get_data(as_text=True))}
    for metric in prometheus.METRICS:
        family = families[metric.name.removesuffix("_total")]
        assert family.type == metric.kind.__name__.lower()
        assert family.documentation == metric.meaning


def test_readings_are_counted_by_model_and_label(client):
    for digit, model in [("7", "digits"), ("7", "digits"), ("1", "digits"), ("0", "seed")]:
        response = client.post(f"/predict?model={model}", data=drawn_digit(digit), content_type="image/png")
        assert response.status_code == 200 and response.get_json()["label"] == int(digit)
    explained = post_raw(client, drawn_digit("0"), url="/api/explain")
    assert explained.status_code == 200 and explained.get_json()["label"] == 0
    number = post_raw(client, strokes(4), url="/api/read")
    assert number.status_code == 200 and number.get_json()["text"] == "1111"
    series = scrape(client)
    assert value(series, "digits_predictions_total", model="digits", label="7") == 2
    assert value(series, "digits_predictions_total", model="digits", label="1") == 1 + 4
    assert value(series, "digits_predictions_total", model="digits", label="0") == 1
    assert value(series, "digits_predictions_total", model="seed", label="0") == 1
    assert value(series, "digits_http_requests_total", endpoint="/predict", status="200") == 4
    assert value(series, "digits_http_requests_total", endpoint="/api/explain", status="200") == 1
    assert value(series, "digits_http_requests_total", endpoint="/api/read", status="200") == 1
    assert value(series, "digits_request_seconds_count", endpoint="/predict") == 4
    assert 0 < value(series, "digits_request_seconds_sum", endpoint="/predict") < 60
    # Every observation is within the largest bucket, and the buckets only grow.
    buckets = [
        value(series, "digits_request_seconds_bucket", endpoint="/predict", le=str(b)) for b in prometheus.BUCKETS
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 4


@pytest.mark.parametrize(("threshold", "low"), [(1e-9, 0), (1.01, 3)])
def test_readings_below_the_low_confidence_setting_are_counted(tmp_path, threshold, low):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "LOW_CONFIDENCE": threshold})
    client = app.test_client()
    for digit in "170":
        assert client.post("/predict", data=drawn_digit(digit), content_type="image/png").status_code == 200
    series = scrape(client)
    assert value(series, "digits_low_confidence_total", model="digits") == low
    assert sum(value(series, "digits_predictions_total", model="digits", label=d) for d in "0123456789") == 3


def test_errors_are_counted_by_route_and_status_and_made_up_paths_share_one_series(client):
    assert client.post("/predict", data=b"not an image", content_type="image/png").status_code == 400
    for path in ("/wp-admin", "/.env", "/a/b/c"):
        assert client.get(path).status_code == 404
    assert client.get("/predict").status_code == 405
    assert client.get("/healthz").status_code == 200
    for _ in range(3):  # scrapes are not counted
        series = scrape(client)
    assert value(series, "digits_http_requests_total", endpoint="/predict", status="400") == 1
    assert value(series, "digits_http_requests_total", endpoint=prometheus.UNMATCHED, status="404") == 3
    assert value(series, "digits_http_requests_total", endpoint=prometheus.UNMATCHED, status="405") == 1
    assert value(series, "digits_http_requests_total", endpoint="/healthz", status="200") == 1
    assert not [key for key in series if ("endpoint", "/metrics") in key[1]]
    assert not [key for key in series if ("endpoint", "/wp-admin") in key[1]]
    assert value(series, "digits_predictions_total", model="digits", label="0") == 0


def test_feedback_is_counted_by_result(tmp_path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "RATE_LIMITS": "feedback=3/minute"})
    client = app.test_client()
    answer = client.post("/predict", data=drawn_digit("7"), content_type="image/png").get_json()
    sent = [
        ({"sample": answer["sample"], "label": 7}, 201),
        ({"sample": answer["sample"] + "x", "label": 7}, 400),
        ({"sample": answer["sample"], "label": 12}, 400),
        ({"sample": answer["sample"], "label": 7}, 429),  # the fourth of a 3/minute budget
    ]
    for body, status in sent:
        assert client.post("/api/feedback", json=body).status_code == status
    preflight = client.options("/api/feedback")  # a browser's question, not feedback
    assert preflight.status_code == 200 and "POST" in preflight.headers["Allow"]
    series = scrape(client)
    assert sum(count for (name, _), count in series.items() if name == "digits_feedback_total") == len(sent)
    assert value(series, "digits_feedback_total", result="stored") == 1
    assert value(series, "digits_feedback_total", result="invalid_sample") == 1
    assert value(series, "digits_feedback_total", result="invalid_label") == 1
    assert value(series, "digits_feedback_total", result="rate_limited") == 1
    assert value(series, "digits_rate_limited_total", endpoint="/api/feedback") == 1
    assert value(series, "digits_http_requests_total", endpoint="/api/feedback", status="429") == 1


def test_a_full_feedback_database_is_counted_as_unavailable(tmp_path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "FEEDBACK_MAX_BYTES": 1})
    client = app.test_client()
    answer = client.post("/predict", data=drawn_digit("7"), content_type="image/png").get_json()
    response = client.post("/api/feedback", json={"sample": answer["sample"], "label": 7})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "feedback_unavailable"
    assert value(scrape(client), "digits_feedback_total", result="feedback_unavailable") == 1


def test_rate_limited_readings_are_counted(tmp_path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "RATE_LIMITS": "predict=2/minute"})
    client = app.test_client()
    statuses = [client.post("/predict", data=drawn_digit("1"), content_type="image/png").status_code for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429]
    series = scrape(client)
    assert value(series, "digits_rate_limited_total", endpoint="/predict") == 3
    assert value(series, "digits_predictions_total", model="digits", label="1") == 2


def test_each_loaded_model_is_described_by_an_info_gauge(app, client):
    series = scrape(client)
    infos = {dict(labels)["model"]: dict(labels) for name, labels in series if name == "digits_model_info"}
    assert set(infos) == set(app.extensions["digits.models"])
    for name, model in app.extensions["digits.models"].items():
        assert infos[name]["sizes"] == "-".join(map(str, model.network.sizes))
        assert infos[name]["cost"] == model.network.cost
        assert value(series, "digits_model_info", **infos[name]) == 1


def test_metrics_off_leaves_the_route_out_and_counts_nothing(tmp_path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "METRICS": False})
    client = app.test_client()
    assert client.post("/predict", data=drawn_digit("1"), content_type="image/png").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert prometheus.EXTENSION not in app.extensions
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _post(url: str, data: bytes, mime: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": mime}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_two_gunicorn_workers_count_into_one_scrape_exactly(tmp_path):
    folder = tmp_path / "metrics"
    readings = {"1": 40, "7": 30}
    bad = 20
    images = {digit: drawn_digit(digit) for digit in readings}
    with gunicorn({"PROMETHEUS_MULTIPROC_DIR": str(folder)}, workers=2) as server:

        def read(digit: str) -> int:
            status, answer = _post(server.url + "/predict", images[digit], "image/png")
            assert status == 200 and answer["label"] == int(digit)
            return answer["label"]

        jobs = [digit for digit, n in readings.items() for _ in range(n)]
        with ThreadPoolExecutor(16) as pool:  # a new connection each: both workers accept them
            assert sorted(pool.map(read, jobs)) == sorted(int(d) for d in jobs)
            codes = list(pool.map(lambda _: _post(server.url + "/predict", b"junk", "image/png")[0], range(bad)))
            assert codes == [400] * bad
        # Any worker's scrape adds up all of them, the same each time.
        scrapes = []
        for _ in range(4):
            status, text = _get(server.url + "/metrics")
            assert status == 200
            scrapes.append(parse(text))
        writers = {path.stem.rsplit("_", 1)[1] for path in folder.glob("counter_*.db")}
    assert len(writers) >= 2, f"the requests reached only the worker(s) {writers}"
    for series in scrapes:
        for digit, n in readings.items():
            assert value(series, "digits_predictions_total", model="digits", label=digit) == n
        assert value(series, "digits_http_requests_total", endpoint="/predict", status="200") == sum(readings.values())
        assert value(series, "digits_http_requests_total", endpoint="/predict", status="400") == bad
        assert value(series, "digits_request_seconds_count", endpoint="/predict") == sum(readings.values()) + bad
        assert value(series, "digits_http_requests_total", endpoint="/healthz", status="200") >= 1
        infos = [labels for name, labels in series if name == "digits_model_info"]
        assert sorted(dict(labels)["model"] for labels in infos) == ["digits", "seed"]  # once each, not per worker
        assert all(value(series, "digits_model_info", **dict(labels)) == 1 for labels in infos)


@pytest.mark.parametrize("reloaded", [False, True], ids=["run", "reloaded_by_hup"])
def test_gunicorn_makes_its_own_metrics_folder_and_removes_it_on_exit(tmp_path, reloaded):
    made = Path(tmp_path / "tmp")
    made.mkdir()
    with gunicorn({"PROMETHEUS_MULTIPROC_DIR": "", "TMPDIR": str(made)}, workers=2) as server:
        assert _post(server.url + "/predict", drawn_digit("1"), "image/png")[0] == 200
        [folder] = made.glob("digits-metrics-*")
        assert list(folder.glob("counter_*.db"))
        if reloaded:  # gunicorn reads its config file again, and replaces its workers
            before = children(server.process.pid)
            os.kill(server.process.pid, signal.SIGHUP)
            deadline = time.monotonic() + 30
            while len(after := children(server.process.pid) - before) < 2:
                assert time.monotonic() < deadline, f"workers {sorted(before)}, then {sorted(after)}"
                time.sleep(0.1)
            assert _post(server.url + "/predict", drawn_digit("1"), "image/png")[0] == 200
            assert list(made.glob("digits-metrics-*")) == [folder]
        status, text = _get(server.url + "/metrics")
        readings = 1 + reloaded
        assert status == 200
        assert value(parse(text), "digits_predictions_total", model="digits", label="1") == readings
    assert not list(made.glob("digits-metrics-*"))
