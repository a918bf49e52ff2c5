"""The OpenAPI document: served, complete, true to what the app answers, and fuzzed by schemathesis
against a real gunicorn."""

from __future__ import annotations

import ast
import base64
import http.client
import json
import tomllib
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import api, create_app
from app.openapi import VERSION
from tests import test_api
from tests.support.canvas import drawn_digit
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
        case.validate_response(response, checks=CHECKS)
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
    validator = pytest.importorskip("openapi_spec_validator")  # not a requirement; checked where installed
    validator.validate(doc)


def test_the_document_loads_in_schemathesis(schema):
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == {
        "GET /",
        "POST /predict",
        "POST /api/explain",
        "POST /api/feedback",
        "GET /api/models",
        "GET /healthz",
        "GET /openapi.json",
    }


def test_the_version_is_the_projects():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == VERSION


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
    (model,) = predict["parameters"]
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


def api_error_cases() -> list:
    """The (send, status, code) cases of test_api's error test: the errors the API tests produce."""
    test = test_api.test_bad_input_gets_a_clear_json_error
    (mark,) = (mark for mark in test.pytestmark if mark.name == "parametrize")
    return mark.args[1]


@pytest.mark.parametrize(
    ("send", "status", "code"), api_error_cases(), ids=[f"{status}-{code}" for _, status, code in api_error_cases()]
)
def test_every_error_the_api_tests_produce_is_documented(client, doc, schema, send, status, code):
    response = send(client)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    check_against_doc(doc, schema, response)
    operation = doc["paths"].get(response.request.path, {}).get(response.request.method.lower())
    documented = operation["responses"][str(status)] if operation else None
    if documented is not None:
        assert code in error_codes(doc, documented)


def test_every_error_predict_can_raise_is_documented(doc):
    """Every ``fail(status, code, ...)`` in app/api.py, and every image error's answer, is one of
    POST /predict's documented responses with that code."""
    raised = set(api._IMAGE_ERRORS.values())
    for node in ast.walk(ast.parse((ROOT / "app" / "api.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "fail":
            status, code = (ast.literal_eval(arg) for arg in node.args[:2])
            raised.add((status, code))
    assert len(raised) >= 10
    responses = doc["paths"]["/predict"]["post"]["responses"]
    for status, code in raised:
        assert str(status) in responses, (status, code)
        assert code in error_codes(doc, responses[str(status)]), (status, code)


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.get("/"),
        lambda c: c.get("/healthz"),
        lambda c: c.get("/api/models"),
        lambda c: c.get("/openapi.json"),
        lambda c: test_api.post_multipart(c, drawn_digit("7")),
        lambda c: test_api.post_raw(c, drawn_digit("7"), "image/webp"),
        lambda c: test_api.post_json(c, drawn_digit("7"), url="/predict?model=seed"),
        lambda c: test_api.post_base64(c, drawn_digit("7")),
    ],
    ids=["page", "healthz", "models", "openapi", "multipart", "raw", "data-url", "base64"],
)
def test_every_answer_matches_the_document(client, doc, schema, send):
    response = send(client)
    assert response.status_code == 200
    check_against_doc(doc, schema, response)


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
