"""The deployment's nginx template, run by Debian's nginx in front of two real gunicorn replicas that
keep feedback in one real PostgreSQL; and compose.yaml, checked by Debian's docker-compose."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from app.errors import BY_CODE
from scripts import nginx
from scripts.hostile_corpus import Case, send
from tests.support.canvas import drawn_digit
from tests.support.postgres import PostgresServer
from tests.support.scrape import parse
from tests.support.server import Server, children, configured, gunicorn

ROOT = Path(__file__).resolve().parent.parent
KEY = "a-secret-key-both-replicas-share"
ONE = drawn_digit("1")


@dataclass
class Deployment:
    front: nginx.Nginx
    replicas: tuple[Server, Server]
    database: str  # the PostgreSQL database's name


def _need_nginx() -> None:
    if not nginx.available():
        message = f"{nginx.NGINX} not found (apt-get install nginx-light)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def deployment(postgres: PostgresServer, **limits) -> Iterator[Deployment]:
    """nginx in front of two replicas (two gunicorn workers each, one secret key, one proxy trusted)
    that keep feedback in one new PostgreSQL database."""
    _need_nginx()
    url = postgres.new_database()
    env = {"DIGITS_SECRET_KEY": KEY, "DIGITS_FEEDBACK_DB": url, "DIGITS_TRUSTED_PROXIES": "1"}
    with (
        gunicorn(env=env, workers=2) as first,
        gunicorn(env=env, workers=2) as second,
        nginx.running([f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"], **limits) as front,
    ):
        yield Deployment(front, (first, second), url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def deployed(postgres) -> Iterator[Deployment]:
    with deployment(postgres) as running:
        yield running


def request(
    base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: the status, the headers and the body."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def read(base: str, png: bytes = ONE) -> dict:
    status, _, body = request(base, "POST", "/predict", png, {"Content-Type": "image/png"})
    assert status == 200, body[:200]
    return json.loads(body)


def counted(server: Server) -> dict:
    """A replica's own metrics, asked of it directly (nginx does not pass /metrics on)."""
    status, _, body = request(server.url, "GET", "/metrics")
    assert status == 200
    return parse(body.decode())


def served(series: dict, endpoint: str | None = None) -> float:
    """The requests a replica has answered (on ``endpoint``, or on all of them)."""
    return sum(
        count
        for (name, labels), count in series.items()
        if name == "digits_http_requests_total" and (endpoint is None or ("endpoint", endpoint) in labels)
    )


def test_requests_reach_both_replicas_and_feedback_lands_in_one_database(deployed, postgres):
    before = [served(counted(replica), "/predict") for replica in deployed.replicas]

    def read_and_confirm(k: int) -> int:
        answer = read(deployed.front.url)
        body = json.dumps({"sample": answer["sample"], "label": 1}).encode()
        status, _, _ = request(deployed.front.url, "POST", "/api/feedback", body, {"Content-Type": "application/json"})
        return status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(read_and_confirm, range(80)))
    assert statuses == [201] * 80
    after = [served(counted(replica), "/predict") for replica in deployed.replicas]
    reached = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(reached) == 80
    assert min(reached) >= 10, f"nginx sent {reached} of 80 readings to the two replicas"
    rows = postgres.psql("SELECT count(*), min(label), max(label) FROM samples", deployed.database)
    assert rows.strip() == "80|1|1"


def test_static_files_come_from_nginx_with_cache_headers(deployed):
    before = [served(counted(replica)) for replica in deployed.replicas]
    for name in ("style.css", "js/main.js", "favicon.svg"):
        status, headers, body = request(deployed.front.url, "GET", f"/static/{name}")
        assert status == 200
        assert body == (ROOT / "static" / name).read_bytes()
        assert headers["Cache-Control"] == "public, max-age=3600"
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert request(deployed.front.url, "GET", "/static/js/main.js")[1]["Content-Type"] == "application/javascript"
    status, _, _ = request(deployed.front.url, "GET", "/static/no-such-file.js")
    assert status == 404
    # No request reached the replicas (the scrapes are not counted).
    assert [served(counted(replica)) for replica in deployed.replicas] == before


# Ways of writing /metrics that the app would route to it, and near misses that it would not.
METRICS_PATHS = [
    "/metrics",
    "/metrics?name=digits_predictions_total",
    "//metrics",
    "/./metrics",
    "/static/../metrics",
    "/%6detrics",
    "/%6Detrics",
    "/metric%73",
    "/%2Fmetrics",
    "http://digits.example/metrics",
    "/metrics/",
    "/METRICS",
    "/metrics;x",
]


@pytest.mark.parametrize("target", METRICS_PATHS)
def test_metrics_are_not_passed_to_the_outside(deployed, target):
    # Sent as written in the request line: no client library tidies the path first.
    case = Case(target, "GET", target, (), b"", frozenset({404}))
    answer = send(case, "127.0.0.1", urlsplit(deployed.front.url).port)
    assert answer is not None and answer.status == 404, answer
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body)["error"]["code"] == "not_found"
    assert b"digits_" not in answer.body
    assert request(deployed.replicas[0].url, "GET", "/metrics")[0] == 200


def test_the_access_log_leaves_client_addresses_out(deployed):
    claimed = "203.0.113.7"
    status, _, _ = request(deployed.front.url, "GET", "/healthz", headers={"X-Forwarded-For": claimed})
    assert status == 200
    log = deployed.front.access_log().splitlines()
    assert log and claimed not in "\n".join(log)
    replicas = {f"127.0.0.1:{replica.port}" for replica in deployed.replicas}
    for line in log:
        # when, "request", status, bytes, seconds, then the replica(s) that answered ("-" for nginx itself)
        found = re.fullmatch(r'\S+ "[^"]*" \d{3} \d+ [\d.]+ (.+)', line)
        assert found, line
        addresses = set(re.findall(r"\d+\.\d+\.\d+\.\d+(?::\d+)?", line))
        assert addresses <= replicas, line


def test_a_body_over_the_limit_is_the_apps_json_413(deployed):
    status, headers, body = request(
        deployed.front.url, "POST", "/predict", b"\0" * (12 * 1024 * 1024), {"Content-Type": "image/png"}
    )
    assert status == BY_CODE["too_large"].status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "too_large"


def test_one_budget_per_client_across_the_replicas(postgres):
    with deployment(postgres, rate="1r/s", burst=5) as running:
        before = [served(counted(replica), "/healthz") for replica in running.replicas]
        start = time.monotonic()
        answers = [
            # A made-up X-Forwarded-For buys no budget: nginx counts the connection's address.
            request(running.front.url, "GET", "/healthz", headers={"X-Forwarded-For": f"198.51.100.{k}"})
            for k in range(20)
        ]
        elapsed = time.monotonic() - start
        ok = [a for a in answers if a[0] == 200]
        refused = [a for a in answers if a[0] != 200]
        # The burst and the first request at once, then one a second.
        assert 6 <= len(ok) <= 6 + int(elapsed) + 1
        for status, headers, body in refused:
            assert status == BY_CODE["rate_limited"].status
            assert headers["Content-Type"] == "application/json" and headers["Retry-After"] == "1"
            assert json.loads(body)["error"]["code"] == "rate_limited"
        # Both replicas served part of the budget, and together no more than it.
        reached = [
            served(counted(replica), "/healthz") - b for replica, b in zip(running.replicas, before, strict=True)
        ]
        assert sum(reached) == len(ok) and min(reached) >= 1
        # The refusals are in the access log only: nginx's error-log line for each would name the client.
        assert "client:" not in running.front.error_log()


def _dead(pid: int) -> bool:
    """Whether the process has exited (gone, or a zombie its parent has not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _processes(master: int) -> list[int]:
    """The gunicorn master and its workers."""
    return [master, *children(master)]


def test_a_replica_killed_under_load_costs_only_the_requests_it_held(postgres):
    threads, seconds = 8, 6.0
    with deployment(postgres) as running:
        victim = running.replicas[1]
        results: list[tuple[float, float, int]] = []  # (start, end, status)
        stop_at = time.monotonic() + seconds

        def load() -> None:
            while time.monotonic() < stop_at:
                began = time.monotonic()
                try:
                    status = request(running.front.url, "POST", "/predict", ONE, {"Content-Type": "image/png"})[0]
                # Refused, reset, or cut off mid-answer (nginx had begun passing on the dying replica's
                # answer): a failed request, counted as such.
                except (OSError, http.client.HTTPException):
                    status = 0
                results.append((began, time.monotonic(), status))

        with ThreadPoolExecutor(threads) as pool:
            jobs = [pool.submit(load) for _ in range(threads)]
            time.sleep(2.0)
            killed_at = time.monotonic()
            processes = _processes(victim.process.pid)
            for pid in processes:
                os.kill(pid, signal.SIGKILL)
            while not all(_dead(pid) for pid in processes):
                time.sleep(0.005)
            dead_at = time.monotonic()  # from here on, nothing of the replica is left to answer
            for job in jobs:
                job.result()
        victim.process.wait(timeout=10)
        failed = [r for r in results if r[2] != 200]
        after = [r for r in results if r[0] > dead_at]
        assert len(results) > 100 and len(after) > 50
        # At most what was in flight while it died (one request per thread), and nothing begun after.
        assert len(failed) <= threads, failed
        assert all(began <= dead_at and end >= killed_at for began, end, _ in failed), (killed_at, dead_at, failed)
        assert all(status == 200 for _, _, status in after)


def test_slow_clients_stop_at_nginx_and_never_reach_a_replica(deployed):
    before = [served(counted(replica)) for replica in deployed.replicas]
    port = urlsplit(deployed.front.url).port
    headers, bodies = [], []
    for k in range(256):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if k % 2:  # the headers done, a declared body of 10 kB to come a byte a second
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 10000\r\n\r\n")
            bodies.append(s)
        else:  # the headers themselves a byte a second
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            headers.append(s)
    readings = 8
    try:
        for _ in range(readings):
            began = time.monotonic()
            for s in headers + bodies:
                with contextlib.suppress(OSError):  # one nginx has closed
                    s.send(b"a")
            assert read(deployed.front.url)["label"] == 1  # a quick client is served meanwhile
            time.sleep(max(0.0, 1 - (time.monotonic() - began)))
        # 8 s in: nginx has closed every connection whose headers took more than its 5 s, and still holds
        # (and has not answered) every one whose body is still coming.
        assert all(_closed_by_peer(s) for s in headers)
        readable, _, _ = select.select(bodies, [], [], 0)
        assert readable == []
    finally:
        for s in headers + bodies:
            s.close()
    after = [served(counted(replica)) for replica in deployed.replicas]
    # The replicas answered the quick client's readings, and nothing of the 256.
    assert sum(after) - sum(before) == readings


def _closed_by_peer(s: socket.socket) -> bool:
    """Whether the other end has closed ``s`` (after what it had to say, such as a 408)."""
    s.settimeout(2)
    try:
        while s.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:  # reset
        return True
    return True


# -- compose.yaml ---------------------------------------------------------------------------------------

COMPOSE = ROOT / "compose.yaml"
SECRETS = {
    "DIGITS_SECRET_KEY": "k" * 32,
    "DIGITS_ADMIN_TOKEN": "t" * 32,
    "POSTGRES_PASSWORD": "p" * 24,
}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    compose = shutil.which("docker-compose")
    if compose is None:
        message = "docker-compose not found (apt-get install docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        [compose, "-f", str(COMPOSE), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SECRETS}


def test_the_compose_file_is_valid_and_wires_the_parts_together():
    result = _compose("config", env={**_environment(), **SECRETS})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"nginx", "app", "db"}
    app, front, db = services["app"], services["nginx"], services["db"]
    assert app["build"]["context"] == str(ROOT)
    assert "ports" not in app  # reached through nginx only, so it can be scaled
    assert app["environment"]["DIGITS_TRUSTED_PROXIES"] == "1"
    assert app["environment"]["DIGITS_SECRET_KEY"] == SECRETS["DIGITS_SECRET_KEY"]
    assert app["environment"]["DIGITS_ADMIN_TOKEN"] == SECRETS["DIGITS_ADMIN_TOKEN"]
    password = SECRETS["POSTGRES_PASSWORD"]
    assert app["environment"]["DIGITS_FEEDBACK_DB"] == f"postgresql://digits:{password}@db:5432/digits"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert front["depends_on"]["app"]["condition"] == "service_healthy"
    assert front["image"].startswith("nginx:") and db["image"].startswith("postgres:")
    assert "pg_isready -h 127.0.0.1" in " ".join(db["healthcheck"]["test"])  # over TCP, not the socket
    assert any(v.startswith("feedback:/var/lib/postgresql/data") for v in db["volumes"])
    assert "feedback" in config["volumes"]
    template = f"{nginx.TEMPLATE}:/etc/nginx/templates/default.conf.template:ro"
    assert template in front["volumes"]
    assert set(nginx.VARIABLES) <= set(front["environment"])


@pytest.mark.parametrize("missing", list(SECRETS))
def test_the_compose_file_refuses_to_start_without_each_secret(missing):
    env = {**_environment(), **{k: v for k, v in SECRETS.items() if k != missing}}
    result = _compose("config", "-q", env=env)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_nginx_takes_the_template_with_the_compose_files_values(tmp_path):
    """What the official image renders from compose.yaml, checked by nginx itself (``nginx -t``),
    with the replicas' name, which only Docker's network resolves, given as an address."""
    _need_nginx()
    result = _compose("config", env={**_environment(), **SECRETS})
    assert result.returncode == 0, result.stderr
    values = {k: str(v) for k, v in yaml.safe_load(result.stdout)["services"]["nginx"]["environment"].items()}
    assert values["DIGITS_UPSTREAM_SERVERS"].startswith("server app:8000 ")
    values["DIGITS_UPSTREAM_SERVERS"] = values["DIGITS_UPSTREAM_SERVERS"].replace("app:8000", "127.0.0.1:8000")
    values["DIGITS_STATIC_ROOT"] = str(ROOT / "static")
    values["DIGITS_ACCESS_LOG"] = str(tmp_path / "access.log")
    (tmp_path / "default.conf").write_text(nginx.render(values))
    (tmp_path / "nginx.conf").write_text(nginx.MAIN.format(folder=tmp_path))
    check = subprocess.run(
        [nginx.NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr


def test_rendering_leaves_nginx_variables_alone_and_names_a_missing_value():
    values = {name: f"<{name}>" for name in nginx.VARIABLES}
    rendered = nginx.render(values)
    assert "${DIGITS_" not in rendered
    assert "$binary_remote_addr" in rendered and "$proxy_add_x_forwarded_for" in rendered
    assert all(f"<{name}>" in rendered for name in nginx.VARIABLES)
    with pytest.raises(KeyError, match="DIGITS_LIMIT_RATE"):
        nginx.render({k: v for k, v in values.items() if k != "DIGITS_LIMIT_RATE"})


def test_nginx_lets_go_of_idle_replica_connections_before_gunicorn_does():
    """A request sent on a connection gunicorn is closing that moment would be lost (a POST is not
    retried): nginx's idle upstream connections must close first."""
    upstream = re.search(r"upstream digits_app \{(.*?)\n\}", nginx.TEMPLATE.read_text(), re.DOTALL)[1]
    nginx_idle = int(re.search(r"keepalive_timeout (\d+)s;", upstream)[1])
    assert nginx_idle < float(configured()["keepalive"])


def test_nginx_answers_only_the_apps_error_codes_with_their_statuses():
    """The JSON that nginx answers itself uses codes app/errors.py declares, each with its status."""
    answers = re.findall(r"return (\d{3}) '(\{.*\})';", nginx.TEMPLATE.read_text())
    assert len(answers) == 3
    for status, body in answers:
        error = json.loads(body)["error"]
        assert set(error) == {"code", "message"} and error["message"]
        assert BY_CODE[error["code"]].status == int(status)
