"""``GET /metrics``: what the app has served, in Prometheus' text format (prometheus-client).

Every metric is declared once, in ``METRICS``; the counters here, the README's table of them
(``scripts/readme_tables.py``) and the tests read it. Requests are counted as they are answered
(``after_request``, so errors too) by their route's rule, such as ``/predict``, never by the path a
client sent, so a scan of made-up paths adds one series (``unmatched``), not one per path. Scrapes of
``/metrics`` itself are not counted.

Under gunicorn each worker is a process of its own: gunicorn.conf.py points
``PROMETHEUS_MULTIPROC_DIR`` at a folder before anything imports prometheus-client, each worker
writes its counts there, and any worker's ``/metrics`` adds up all of them (prometheus-client's
multiprocess mode). Without that variable (one process: the Flask test client, ``flask run``) each
app counts in a registry of its own. ``DIGITS_METRICS=off`` leaves the route out (404) and counts nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

EXTENSION = "digits.metrics"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# A request with no route (a 404 or 405 of a path the app does not have) is counted under this endpoint.
UNMATCHED = "unmatched"
# Seconds: a reading takes a few milliseconds, a slow client's upload up to DIGITS_REQUEST_TIMEOUT.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Metric:
    """One metric: its name, its prometheus-client kind, its labels' names and what it counts."""

    name: str
    kind: type[Counter] | type[Histogram] | type[Gauge]
    labels: tuple[str, ...]
    meaning: str  # the metric's HELP text, and the README's description of it


METRICS: tuple[Metric, ...] = (
    Metric(
        "digits_http_requests_total",
        Counter,
        ("endpoint", "status"),
        f"requests answered, by route (`/predict`, `/api/feedback`, ...; `{UNMATCHED}` for a path the app does "
        "not have) and HTTP status",
    ),
    Metric(
        "digits_request_seconds",
        Histogram,
        ("endpoint",),
        "seconds from a request's start to its answer being ready, by route",
    ),
    Metric(
        "digits_predictions_total",
        Counter,
        ("model", "label"),
        "digits read, by model and the label read: one for each `/predict` and `/api/explain`, one for each digit "
        "of an `/api/read`",
    ),
    Metric(
        "digits_low_confidence_total",
        Counter,
        ("model",),
        'digits read with a confidence below `DIGITS_LOW_CONFIDENCE` (the page says "not sure"), by model',
    ),
    Metric(
        "digits_feedback_total",
        Counter,
        ("result",),
        "feedback requests, by result: `stored`, or the error code answered (`invalid_sample`, "
        "`feedback_unavailable`, `rate_limited`, ...)",
    ),
    Metric(
        "digits_rate_limited_total",
        Counter,
        ("endpoint",),
        "requests answered 429 `rate_limited`, by route",
    ),
    Metric(
        "digits_model_info",
        Gauge,
        ("model", "sizes", "activation", "cost"),
        "1 for each model the server loaded, its layer sizes, hidden activation and cost as labels",
    ),
)


class Counts:
    """The metrics of one app, each made from its ``Metric`` in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        made = {}
        for metric in METRICS:
            options: dict = {"registry": registry}
            if metric.kind is Histogram:
                options["buckets"] = BUCKETS
            if metric.kind is Gauge:
                # The same 1 in every process: report it once, not summed over the workers.
                options["multiprocess_mode"] = "max"
            made[metric.name] = metric.kind(metric.name, metric.meaning, metric.labels, **options)
        self.requests: Counter = made["digits_http_requests_total"]
        self.seconds: Histogram = made["digits_request_seconds"]
        self.predictions: Counter = made["digits_predictions_total"]
        self.low_confidence: Counter = made["digits_low_confidence_total"]
        self.feedback: Counter = made["digits_feedback_total"]
        self.rate_limited: Counter = made["digits_rate_limited_total"]
        self.model_info: Gauge = made["digits_model_info"]


def multiprocess() -> bool:
    """Whether the counts are kept in files shared by the processes of a server (gunicorn's workers)."""
    return bool(os.environ.get(MULTIPROCESS_DIR))


PATH = "/metrics"
bp = Blueprint("metrics", __name__)


@bp.get(PATH)
def metrics() -> Response:
    """Every metric with its current values, in Prometheus' text format."""
    if multiprocess():
        # Every worker's files, added up; made for each scrape, as prometheus-client's guide says.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = current_app.extensions[EXTENSION][1]
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    """Count the app's requests and serve ``/metrics``, unless ``METRICS`` is off."""
    if not app.config["METRICS"]:
        return
    if multiprocess():
        # Made here, by the server's first process, rather than by gunicorn.conf.py (see there).
        os.makedirs(os.environ[MULTIPROCESS_DIR], mode=0o700, exist_ok=True)
    registry = CollectorRegistry()
    counts = Counts(registry)
    app.extensions[EXTENSION] = (counts, registry)
    for model in app.extensions["digits.models"].values():
        counts.model_info.labels(
            model.name, "-".join(map(str, model.network.sizes)), model.network.activation, model.network.cost
        ).set(1)
    app.register_blueprint(bp)

    @app.before_request
    def start_clock() -> None:
        g.digits_started = time.perf_counter()

    @app.after_request
    def count_request(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        if endpoint == PATH:
            return response
        counts.requests.labels(endpoint, str(response.status_code)).inc()
        started = g.get("digits_started")
        if started is not None:
            counts.seconds.labels(endpoint).observe(time.perf_counter() - started)
        if response.status_code == 429:
            counts.rate_limited.labels(endpoint).inc()
        if endpoint == "/api/feedback" and request.method == "POST":  # not a CORS preflight's OPTIONS
            stored = response.status_code == 201
            counts.feedback.labels("stored" if stored else g.get("digits_error") or str(response.status_code)).inc()
        return response


def count_readings(model: str, readings: Iterable[tuple[int, float]]) -> None:
    """Count the digits a request read with ``model`` (each a label and its confidence), and those
    read with less than ``LOW_CONFIDENCE``."""
    kept = current_app.extensions.get(EXTENSION)
    if kept is None:
        return
    counts: Counts = kept[0]
    low = current_app.config["LOW_CONFIDENCE"]
    for label, confidence in readings:
        counts.predictions.labels(model, str(label)).inc()
        if confidence < low:
            counts.low_confidence.labels(model).inc()
