"""The OpenAPI document: served, complete, true to what the app answers, and fuzzed by schemathesis
against a real gunicorn."""

from __future__ import annotations

import base64
import http.client
import io
import json
import sqlite3
import time
import tomllib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import openapi_spec_validator
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from itsdangerous import TimestampSigner
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app, errors, openapi
from model.segment import MAX_DIGITS
from tests.support import requests
from tests.support.canvas import drawn_digit, pen_mark, strokes
from tests.support.paths import ROOT
from tests.support.server import gunicorn

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # added by Flask to every route


@pytest.fixture
def doc(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def schema(doc):
    return schemathesis.openapi.from_dict(doc)


def inline_refs(doc: dict[str, Any], node: Any) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points to (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return inline_refs(doc, target)
        return {key: inline_refs(doc, value) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(doc, item) for item in node]
    return node


def error_codes(doc: dict[str, Any], response: dict[str, Any]) -> set[str]:
    """The error codes a documented error response allows (the ``enum`` inside its ``allOf``)."""
    schema = inline_refs(doc, response)["content"]["application/json"]["schema"]
    enums = [part["properties"]["error"]["properties"]["code"]["enum"] for part in schema["allOf"]]
    return set.intersection(*map(set, enums))


def check_against_doc(doc: dict[str, Any], schema, response) -> None:
    """``response`` (from the Flask test client) is what the document says its request gets.

    A documented operation: schemathesis's status, content-type and body checks. An undocumented
    method of a documented path: MethodNotAllowed; an undocumented path: NotFound.
    """
    method, path = response.request.method, response.request.path
    operation = doc["paths"].get(path, {}).get(method.lower())
    if operation is not None:
        assert str(response.status_code) in operation["responses"], (method, path, response.status_code)
        case = schema[path][method].Case(query=dict(response.request.args))
        # A documented 503 (feedback storage down) is an answer by design, not a server fault.
        checks = CHECKS if response.status_code != 503 else [c for c in CHECKS if c is not not_a_server_error]
        case.validate_response(response, checks=checks)
        return
    name, status = ("MethodNotAllowed", 405) if path in doc["paths"] else ("NotFound", 404)
    documented = doc["components"]["responses"][name]
    assert response.status_code == status
    assert response.mimetype in documented["content"]
    body_schema = inline_refs(doc, documented["content"][response.mimetype]["schema"])
    jsonschema_rs.validator_for(body_schema).validate(response.get_json())
    if status == 405:
        assert response.headers["Allow"]


# -- the document, through the Flask test client ---------------------------------------------------------


def test_the_document_is_openapi_3(doc):
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": "/"}]
    assert doc["info"]["title"] and doc["info"]["version"]
    assert set(doc["paths"]) and set(doc["components"]["schemas"])


def test_the_document_is_valid(doc):
    openapi_spec_validator.validate(doc)


def test_the_document_loads_in_schemathesis(schema):
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == {
        "GET /",
        "POST /predict",
        "POST /api/explain",
        "POST /api/read",
        "POST /api/feedback",
        "GET /api/models",
        "GET /healthz",
        "GET /openapi.json",
        "GET /metrics",
    }


def test_the_version_is_the_projects(doc):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert doc["info"]["version"] == project["version"]


def test_every_route_is_documented_with_its_methods(app, doc):
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            path = rule.rule.replace("<", "{").replace(">", "}")
            routes.setdefault(path, set()).update(rule.methods - IGNORED_METHODS)
    documented = {path: {method.upper() for method in item} for path, item in doc["paths"].items()}
    assert documented == routes


def test_models_and_limits_come_from_the_app(app, doc):
    predict = doc["paths"]["/predict"]["post"]
    model, explain = predict["parameters"]
    assert explain["name"] == "explain" and explain["schema"]["enum"] == ["1", "true", "0", "false"]
    assert model["schema"]["enum"] == list(app.extensions["digits.models"]) == ["digits", "seed"]
    assert model["schema"]["default"] == app.config["DEFAULT_MODEL"]
    assert doc["components"]["schemas"]["ModelName"]["enum"] == ["digits", "seed"]
    assert predict["requestBody"]["content"]["image/png"]["schema"]["maxLength"] == app.config["MAX_BYTES"]
    assert f"{app.config['MAX_SIDE']:,} pixels on a side" in predict["description"]

    small = create_app({"TESTING": True, "MAX_BYTES": 1000, "MAX_SIDE": 64})
    predict = small.test_client().get("/openapi.json").get_json()["paths"]["/predict"]["post"]
    assert predict["requestBody"]["content"]["image/webp"]["schema"]["maxLength"] == 1000
    assert "64 pixels on a side" in predict["description"]


def test_every_input_form_is_documented(doc):
    content = doc["paths"]["/predict"]["post"]["requestBody"]["content"]
    for mime in ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp"):
        assert content[mime]["schema"] == {**content[mime]["schema"], "type": "string", "format": "binary"}
    assert content["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert content["multipart/form-data"]["schema"]["required"] == ["image"]
    assert inline_refs(doc, content["application/json"]["schema"])["properties"]["image"]["type"] == "string"


def test_the_json_example_reads_as_a_seven(client, doc):
    example = doc["components"]["schemas"]["ImageJson"]["properties"]["image"]["example"]
    for name in doc["components"]["schemas"]["ModelName"]["enum"]:
        response = client.post(f"/predict?model={name}", json={"image": example})
        assert response.status_code == 200 and response.get_json()["label"] == 7


def blank_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(out, "PNG")
    return out.getvalue()


def old_token(app) -> str:
    """A sample token this app signed, but longer ago than it accepts."""
    issued = int(time.time()) - app.config["SAMPLE_MAX_AGE"] - 60
    with pytest.MonkeyPatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: issued)
        response = app.test_client().post("/predict", data=drawn_digit("7"), content_type="image/png")
    return response.get_json()["sample"]


def read_only(app):
    """A client of ``app``'s twin whose feedback database cannot be written."""
    path = app.config["FEEDBACK_DB"]
    sqlite3.connect(path).close()
    twin = create_app({"TESTING": True, "FEEDBACK_DB": f"file:{path}?mode=ro", "SECRET_KEY": app.config["SECRET_KEY"]})
    return twin.test_client()


def slow_body(client, app):
    """An image body that arrives a byte every 20 ms, sent to an app that waits 0.1 s for a body."""
    app.config["REQUEST_TIMEOUT"] = 0.1
    png = drawn_digit()

    class Trickle(io.BytesIO):
        def read(self, size=-1):
            time.sleep(0.02)
            return super().read(0 if size == 0 else 1)

    return client.post("/predict", input_stream=Trickle(png), content_type="image/png", content_length=len(png))


def over_budget(client, app):
    """The second reading of a client allowed one a year, by a twin of ``app`` with that rate limit."""
    twin = create_app({"TESTING": True, "FEEDBACK_DB": app.config["FEEDBACK_DB"], "RATE_LIMITS": "predict=1/year"})
    counted = twin.test_client()
    assert counted.post("/predict", data=drawn_digit("7"), content_type="image/png").status_code == 200
    return counted.post("/predict", data=drawn_digit("7"), content_type="image/png")


def feedback_with(client, **fields):
    token = client.post("/predict", data=drawn_digit("7"), content_type="image/png").get_json()["sample"]
    return client.post("/api/feedback", json={"sample": token, "label": 7, **fields})


# One request that meets each error of app.errors.ERRORS, through the test client. bad_request (a broken
# chunked body) needs a real server's parser: tests/test_hostile.py sends it to gunicorn.
PROVOKE: dict[str, Any] = {
    "invalid_json": lambda c, app: c.post("/predict", data=b"{", content_type="application/json"),
    "missing_field": lambda c, app: c.post("/predict", json={"picture": "x"}),
    "invalid_image": lambda c, app: c.post("/predict", data=b"not an image", content_type="image/png"),
    "invalid_field": lambda c, app: c.post("/predict", json={"image": 42}),
    "invalid_base64": lambda c, app: c.post("/predict", json={"image": "%%%"}),
    "invalid_data_url": lambda c, app: c.post("/api/explain", json={"image": "data:image/png,raw"}),
    "too_many_files": lambda c, app: c.post(
        "/predict",
        data={"image": [(io.BytesIO(drawn_digit()), "a.png"), (io.BytesIO(drawn_digit()), "b.png")]},
        content_type="multipart/form-data",
    ),
    "unknown_model": lambda c, app: c.post("/predict?model=nope", data=drawn_digit(), content_type="image/png"),
    "invalid_parameter": lambda c, app: c.post("/predict?explain=yes", data=drawn_digit(), content_type="image/png"),
    "too_many_digits": lambda c, app: c.post("/api/read", data=strokes(MAX_DIGITS + 1), content_type="image/png"),
    "invalid_label": lambda c, app: feedback_with(c, label=10),
    "invalid_sample": lambda c, app: feedback_with(c, sample="not.a-token"),
    "expired_sample": lambda c, app: c.post("/api/feedback", json={"sample": old_token(app), "label": 7}),
    "not_found": lambda c, app: c.get("/no/such/page"),
    "method_not_allowed": lambda c, app: c.get("/predict"),
    "request_timeout": slow_body,
    "too_large": lambda c, app: c.post("/predict", data=bytes(app.config["MAX_BYTES"] + 1), content_type="image/png"),
    "unsupported_media_type": lambda c, app: c.post("/predict", data=b"hello", content_type="text/plain"),
    "no_digit": lambda c, app: c.post("/predict", data=blank_png(), content_type="image/png"),
    "rate_limited": over_budget,
    "feedback_unavailable": lambda c, app: feedback_with(read_only(app)),
}


def test_every_error_has_a_request_that_meets_it():
    # The review page's errors are HTML, not in the document: tests/test_review.py meets each of them.
    assert set(PROVOKE) | {"bad_request"} == {e.code for e in errors.ERRORS if e.scope != "review"}


@pytest.mark.parametrize("code", sorted(PROVOKE))
def test_every_error_is_answered_as_declared_and_documented(app, client, doc, schema, code):
    response = PROVOKE[code](client, app)
    declared = errors.BY_CODE[code]
    assert response.status_code == declared.status
    assert response.get_json()["error"]["code"] == code
    check_against_doc(doc, schema, response)
    operation = doc["paths"].get(response.request.path, {}).get(response.request.method.lower())
    if operation is not None:
        assert code in error_codes(doc, operation["responses"][str(declared.status)])


def test_each_operation_documents_the_errors_of_its_scope(doc):
    """/predict, /api/explain and /api/read list the image errors (/predict its own parameter's, /api/read
    its own limit's), /api/feedback the feedback errors, all of them the shared ones and the rate limit's."""
    for path, scopes in [
        ("/predict", ("image", "predict")),
        ("/api/explain", ("image",)),
        ("/api/read", ("image", "number")),
        ("/api/feedback", ("feedback",)),
    ]:
        responses = doc["paths"][path]["post"]["responses"]
        documented = {code for status, r in responses.items() if status >= "400" for code in error_codes(doc, r)}
        met = (*scopes, "any", "limited")
        expected = {e.code for e in errors.ERRORS if e.scope in met and e.status not in (404, 405)}
        assert documented == expected, path


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.get("/"),
        lambda c: c.get("/healthz"),
        lambda c: c.get("/api/models"),
        lambda c: c.get("/openapi.json"),
        lambda c: requests.post_multipart(c, drawn_digit("7")),
        lambda c: requests.post_raw(c, drawn_digit("7"), "image/webp"),
        lambda c: requests.post_json(c, drawn_digit("7"), url="/predict?model=seed"),
        lambda c: requests.post_base64(c, drawn_digit("7")),
        lambda c: requests.post_raw(c, drawn_digit("7"), url="/predict?explain=true"),
        lambda c: requests.post_raw(c, strokes(3), url="/api/read"),
    ],
    ids=["page", "healthz", "models", "openapi", "multipart", "raw", "data-url", "base64", "explained", "number"],
)
def test_every_answer_matches_the_document(client, doc, schema, send):
    response = send(client)
    assert response.status_code == 200
    check_against_doc(doc, schema, response)


# -- the order of the keys --------------------------------------------------------------------------------


def order_mismatches(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "answer") -> list[str]:
    """Where the keys of ``value``, at any depth, come in another order than ``schema`` lists its properties."""
    schema = inline_refs(doc, schema)
    if "allOf" in schema:  # an error response: the Error shape first, then the codes it may carry
        schema = schema["allOf"][0]
    properties = schema.get("properties", {})
    found: list[str] = []
    if isinstance(value, dict) and properties:
        keys = [key for key in value if key in properties]
        documented = [key for key in properties if key in value]
        if keys != documented:
            found.append(f"{where}: {keys}, documented {documented}")
        for key in keys:
            found += order_mismatches(doc, properties[key], value[key], f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value[:3]):
            found += order_mismatches(doc, schema["items"], item, f"{where}[{i}]")
    return found


def documented_schema(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """The schema of the JSON body that ``method path`` answers with ``status``."""
    operation = doc["paths"].get(path, {}).get(method.lower())
    if operation is None:
        response = doc["components"]["responses"]["MethodNotAllowed" if path in doc["paths"] else "NotFound"]
    else:
        response = operation["responses"][str(status)]
    return inline_refs(doc, response)["content"]["application/json"]["schema"]


@pytest.fixture
def built(app) -> dict[str, Any]:
    """The document as ``app.openapi`` builds it, before any JSON encoding could reorder it."""
    return openapi.document(app)


def test_the_served_document_keeps_its_order(doc, built):
    assert json.dumps(doc) == json.dumps(built)  # the same keys in the same order, at every depth
    assert list(doc)[:2] == ["openapi", "info"]


def test_the_order_is_in_the_descriptions(doc):
    for name in ("Prediction", "Explanation", "FeedbackStored", "Models", "Model", "Health", "Error"):
        schema = doc["components"]["schemas"][name]
        order = ", ".join(f"`{key}`" for key in schema["properties"])
        assert schema["description"].endswith(f"Keys in this order: {order}."), name
    prediction = doc["components"]["schemas"]["Prediction"]
    assert list(prediction["properties"]) == [
        *("label", "confidence", "probabilities", "model", "input", "sample"),
        *("layers", "units"),  # with ?explain=1
    ]
    assert prediction["required"] == ["label", "confidence", "probabilities", "model", "input", "sample"]
    assert "rounded to 4 decimals" in prediction["properties"]["probabilities"]["description"]
    assert "within 0.0005" in prediction["properties"]["probabilities"]["description"]


# (status, the body's text) for (method, path, body, content type); the order of the keys is only in the text.
Send = Callable[[str, str, bytes, str | None], tuple[int, str]]


def feedback_body(send: Send) -> tuple[bytes, str]:
    status, text = send("POST", "/predict", drawn_digit("7"), "image/png")
    assert status == 200
    return json.dumps({"sample": json.loads(text)["sample"], "label": 1}).encode(), "application/json"


# Every kind of answer: (method, path, its body and type from a send, the status).
ANSWERS: dict[str, tuple[str, str, Callable[[Send], tuple[bytes, str | None]], int]] = {
    "healthz": ("GET", "/healthz", lambda send: (b"", None), 200),
    "models": ("GET", "/api/models", lambda send: (b"", None), 200),
    "predict": ("POST", "/predict", lambda send: (drawn_digit("7"), "image/png"), 200),
    "explain": ("POST", "/api/explain?model=seed", lambda send: (drawn_digit("7"), "image/png"), 200),
    "predict_explained": ("POST", "/predict?explain=1", lambda send: (drawn_digit("7"), "image/png"), 200),
    "read": ("POST", "/api/read", lambda send: (strokes(3), "image/png"), 200),
    "feedback": ("POST", "/api/feedback", feedback_body, 201),
    "no_digit": ("POST", "/predict", lambda send: (pen_mark(280, 280 / 13, 0), "image/png"), 422),
    "not_found": ("GET", "/no/such/page", lambda send: (b"", None), 404),
    "method_not_allowed": ("GET", "/predict", lambda send: (b"", None), 405),
}


def check_order(doc: dict[str, Any], send: Send, name: str) -> None:
    """The answer ``name`` of ``send``'s server has its keys, at every depth, in the document's order."""
    method, path, body, expected = ANSWERS[name]
    status, text = send(method, path, *body(send))
    assert status == expected, text[:300]
    schema = documented_schema(doc, method, urlsplit(path).path, status)
    assert order_mismatches(doc, schema, json.loads(text)) == []  # json.loads keeps the text's order


@pytest.mark.parametrize("name", ANSWERS)
def test_the_answers_keys_come_in_the_documented_order(client, built, name):
    def send(method: str, path: str, body: bytes, mime: str | None) -> tuple[int, str]:
        response = client.open(path, method=method, data=body, content_type=mime)
        return response.status_code, response.get_data(as_text=True)

    check_order(built, send, name)


def test_the_order_check_sees_a_difference(built):
    swapped = {"confidence": 0.9, "label": 7, "probabilities": [0.1] * 10, "model": "digits", "input": "", "sample": ""}
    schema = documented_schema(built, "POST", "/predict", 200)
    assert order_mismatches(built, schema, swapped) == [
        "answer: ['confidence', 'label', 'probabilities', 'model', 'input', 'sample'], documented "
        "['label', 'confidence', 'probabilities', 'model', 'input', 'sample']"
    ]
    nested = {"default": "digits", "models": [{"sizes": [784, 10], "name": "digits"}]}
    assert order_mismatches(built, documented_schema(built, "GET", "/api/models", 200), nested) == [
        "answer.models[0]: ['sizes', 'name'], documented ['name', 'sizes']"
    ]


# -- schemathesis against a real gunicorn -------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_schema():
    """The document as a real gunicorn on a loopback port serves it; the server stops after the module."""
    with gunicorn() as server:
        yield schemathesis.openapi.from_url(server.url + "/openapi.json", timeout=10)


# Selected explicitly, all of them: schemathesis leaves out the operation that served the document unless a
# filter names it, and GET /openapi.json is part of the API.
live = schemathesis.pytest.from_fixture("live_schema").include(path_regex="^/")


@live.parametrize()
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_a_real_server_answers_as_documented(case):
    """Generated requests, valid and invalid (most image bodies are not images): never a 5xx, and
    every status, content type and body as the document says."""
    assert case.operation.base_url.startswith("http://127.0.0.1:")
    case.call_and_validate(checks=CHECKS, timeout=15)


def test_a_chunked_body_over_the_limit_is_413(live_schema):
    """The document says a body over the limit answers 413, with or without a Content-Length."""
    url = urlsplit(live_schema.get_base_url())
    limit = create_app({"TESTING": True}).config["MAX_CONTENT_LENGTH"]
    # Only a little over the limit, so that the server's early answer does not cut the upload off.
    body = json.dumps({"image": base64.b64encode(bytes(limit * 3 // 4 + 65536)).decode()}).encode()
    assert limit < len(body) < limit + 128 * 1024
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        connection.request("POST", "/predict", body=chunks, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        status, answer = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert (status, answer["error"]["code"]) == (413, "too_large")


@pytest.mark.parametrize("name", ANSWERS)
def test_a_real_servers_keys_come_in_the_documented_order(live_schema, built, name):
    """The same through gunicorn, whose answers are the bytes a client reads."""
    url = urlsplit(live_schema.get_base_url())

    def send(method: str, path: str, body: bytes, mime: str | None) -> tuple[int, str]:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers={"Content-Type": mime} if mime else {})
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8")
        finally:
            connection.close()

    check_order(built, send, name)
