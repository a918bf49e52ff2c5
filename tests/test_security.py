"""Security headers on every kind of answer, and no debug mode or debugger in any configuration that
gunicorn serves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from app import create_app
from tests.support.canvas import drawn_digit
from tests.support.paths import ROOT
from tests.support.server import gunicorn

DEBUG_ENV = {"FLASK_DEBUG": "1", "FLASK_ENV": "development"}
# What gunicorn.conf.py puts in the environment before it loads the app.
GUNICORN_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DEBUGGER_MARKS = ("Werkzeug Debugger", "__debugger__", "Traceback", "werkzeug/debug")

# -- security headers -------------------------------------------------------------------------------------

ANSWERS = {
    "page": lambda c: c.get("/"),
    "api models": lambda c: c.get("/api/models"),
    "api health": lambda c: c.get("/healthz"),
    "api openapi": lambda c: c.get("/openapi.json"),
    "api predict": lambda c: c.post("/predict", data=drawn_digit("7"), content_type="image/png"),
    "error 400": lambda c: c.post("/predict", data=b"not an image", content_type="image/png"),
    "error 404": lambda c: c.get("/no/such/page"),
    "error 405": lambda c: c.get("/predict"),
    "error 415": lambda c: c.post("/predict", data=b"x", content_type="text/plain"),
    "static css": lambda c: c.get("/static/style.css"),
    "static js": lambda c: c.get("/static/js/main.js"),
    "static 404": lambda c: c.get("/static/no-such-file.js"),
}
EXPECTED_STATUS = {"error 400": 400, "error 404": 404, "error 405": 405, "error 415": 415, "static 404": 404}


def csp_directives(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        name, *sources = part.split()
        directives[name.lower()] = sources
    return directives


def check_csp(value: str) -> None:
    assert "unsafe-inline" not in value and "unsafe-eval" not in value, value
    directives = csp_directives(value)
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]


def check_nosniff(value: str) -> None:
    assert value == "nosniff"


def check_referrer_policy(value: str) -> None:
    assert value in ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")


def check_frame_options(value: str) -> None:
    assert value == "DENY"


HEADER_CHECKS = {
    "Content-Security-Policy": check_csp,
    "X-Content-Type-Options": check_nosniff,
    "Referrer-Policy": check_referrer_policy,
    "X-Frame-Options": check_frame_options,
}


@pytest.mark.parametrize("header", list(HEADER_CHECKS))
@pytest.mark.parametrize("answer", list(ANSWERS))
def test_every_answer_has_the_security_headers(client, answer, header):
    response = ANSWERS[answer](client)
    assert response.status_code == EXPECTED_STATUS.get(answer, 200)
    assert header in response.headers, f"{answer}: no {header}"
    assert len(response.headers.getlist(header)) == 1
    HEADER_CHECKS[header](response.headers[header])


# -- no debug mode ----------------------------------------------------------------------------------------

ENVIRONMENTS = [
    pytest.param({}, id="plain"),
    pytest.param(DEBUG_ENV, id="FLASK_DEBUG=1"),
]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_create_app_is_never_in_debug_mode(monkeypatch, env):
    """Not in debug mode, so an unexpected error is the JSON 500, not an exception let through to the
    server (with its own page and none of the app's headers), and never a traceback."""
    for name in DEBUG_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    assert app.debug is False
    assert not app.config["PROPAGATE_EXCEPTIONS"]

    def boom() -> str:
        raise RuntimeError("SECRET internals")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom")
    assert response.status_code == 500 and response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "internal_server_error"
    body = response.get_data(as_text=True)
    assert "SECRET" not in body and not any(mark in body for mark in DEBUGGER_MARKS)
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_wsgi_app_gunicorn_loads_is_never_in_debug_mode(env):
    """``wsgi.app`` imported as gunicorn imports it, in a fresh interpreter with gunicorn's environment."""
    environ = {key: value for key, value in os.environ.items() if key not in DEBUG_ENV}
    result = subprocess.run(
        [sys.executable, "-c", "import json, wsgi; print(json.dumps({'debug': wsgi.app.debug}))"],
        cwd=ROOT,
        env={**environ, **GUNICORN_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {"debug": False}


def test_the_gunicorn_config_turns_on_no_reload_or_debug_option():
    """The settings gunicorn itself reads from gunicorn.conf.py (and GUNICORN_CMD_ARGS, if set)."""
    script = (
        "import json, sys\n"
        "sys.argv = ['gunicorn', 'wsgi:app']\n"
        "from gunicorn.app.wsgiapp import WSGIApplication\n"
        "cfg = WSGIApplication('%(prog)s [OPTIONS] [APP_MODULE]').cfg\n"
        "names = ['reload', 'reload_extra_files', 'spew', 'loglevel', 'raw_env', 'check_config', 'print_config']\n"
        "print(json.dumps({name: getattr(cfg, name) for name in names}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = json.loads(result.stdout.splitlines()[-1])
    assert cfg["reload"] is False and cfg["reload_extra_files"] == []
    assert cfg["spew"] is False
    assert cfg["loglevel"] != "debug"
    assert not any(entry.split("=", 1)[0] in DEBUG_ENV for entry in cfg["raw_env"])
    assert not cfg["check_config"] and not cfg["print_config"]


# -- a real gunicorn started with FLASK_DEBUG=1 --------------------------------------------------------------


@pytest.fixture(scope="module")
def debug_env_server():
    """gunicorn as configured, started with the variables that would turn debug on under ``flask run``."""
    with gunicorn(env=DEBUG_ENV) as server:
        yield server


def fetch(url: str, data: bytes | None = None, content_type: str | None = None) -> tuple[int, str, dict, str]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type} if content_type else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                response.headers.get_content_type(),
                dict(response.headers),
                response.read().decode(),
            )
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get_content_type(), dict(e.headers), e.read().decode()


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "mimetype"),
    [
        ("/no/such/page", None, None, 404, "application/json"),
        ("/console", None, None, 404, "application/json"),
        ("/no/such/page?__debugger__=yes&cmd=resource&f=style.css", None, None, 404, "application/json"),
        ("/console?__debugger__=yes&cmd=resource&f=debugger.js", None, None, 404, "application/json"),
        # On a real path the debugger's query is ignored: the page, not the debugger's style sheet.
        ("/?__debugger__=yes&cmd=resource&f=style.css", None, None, 200, "text/html"),
        ("/predict", None, None, 405, "application/json"),
        ("/predict", b"{not json", "application/json", 400, "application/json"),
        ("/predict", b"not an image", "image/png", 400, "application/json"),
        ("/predict?model=nope", b"x", "image/png", 400, "application/json"),
    ],
)
def test_a_real_server_with_flask_debug_shows_no_debugger(debug_env_server, path, body, content_type, status, mimetype):
    got_status, got_mimetype, headers, text = fetch(debug_env_server.url + path, body, content_type)
    assert (got_status, got_mimetype) == (status, mimetype), text[:300]
    assert not any(mark in text for mark in DEBUGGER_MARKS), text[:300]
    assert "Content-Security-Policy" in headers
    if mimetype == "application/json":
        assert set(json.loads(text)) == {"error"}
    else:
        assert "<canvas" in text


def test_a_real_server_with_flask_debug_answers_a_malformed_request_plainly(debug_env_server):
    """A request gunicorn cannot parse is answered by gunicorn: a short 400, no traceback."""
    url = urlsplit(debug_env_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(b"GET /\x00bad HTTP/9.9\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    text = answer.decode("latin-1")
    assert text.startswith("HTTP/1.1 400 "), text[:300]
    assert not any(mark in text for mark in DEBUGGER_MARKS), text
