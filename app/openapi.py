"""The OpenAPI 3.0 description of the app, served at ``GET /openapi.json``.

``document(app)`` builds it as a plain dict from small parts, so that it names the models this
app has loaded and the limits its configuration sets. Every error has one shape, ``Error``, and
the codes each status may carry come from ``app.errors.ERRORS``. Any path not listed answers 404
(``components/responses/NotFound``) and a listed path asked with another method answers 405
(``components/responses/MethodNotAllowed``), both in that same shape.

Each answer's schema lists its properties in the order the app writes them (``app.api`` builds
every answer in that order), and its description says the order; a reading leads with what a
person reads: ``label``, ``confidence``, ``probabilities``, ``model``.
"""

from __future__ import annotations

import functools
import tomllib
from typing import Any

from flask import Flask

from app import errors, prometheus, ratelimit
from app.explain import DECIMALS, QUERY_VALUES, TOP_UNITS
from app.inputs import IMAGE_TYPES
from app.settings import ROOT
from model.segment import MAX_DIGITS
from model.shape import CLASSES, PIXELS, SIDE

JSON = "application/json"

# A 28x28 PNG of a 7 (the network's own input form), read as 7 by the shipped models: the JSON example.
EXAMPLE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAA60lEQVR42mNgGGSAEYWCgv9QmgVCMaFo+IMqqcv/D675"
    "P8vDB///Iyne9+PjJwj4/PnD3/XcjMg63zz7BdX5n1mOSQDVJVKcUHMYf6uvEAre/O8vVsczNfw/ysOI4npGJghgZpB7/D+OlRmrt5kZa/6fE0bV"
    "iDBV9Mb/TDYcGhkK/l+XZMKhUeD8/1J2FhwaU/7fV8ChkZHv2P9GDlwaI/8/12DGrpGJe+//Xk5cGn3/v9NnZsKukXPz/5mcuPzo9OerOXaNDMzs"
    "K/4v5cKukYnB4ttvexYcGhna/m/gZkITg4M3fxfcQ0k7DADqCkuSXtX7CgAAAABJRU5ErkJggg=="
)


@functools.cache
def project_version() -> str:
    """The version ``pyproject.toml`` declares (the Docker image carries the file for this)."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``: its loaded models and its configured limits filled in."""
    names = list(app.extensions["digits.models"])
    return {
        "openapi": "3.0.3",
        "info": _info(),
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "prediction", "description": "Reading digits"},
            {"name": "feedback", "description": "People's labels for their drawings, to retrain on"},
            {"name": "service", "description": "Models, health, this document"},
            {"name": "page", "description": "The drawing page"},
        ],
        "paths": _paths(app, names),
        "components": {
            "schemas": {
                "ModelName": {"type": "string", "enum": names},
                **_reading_schemas(),
                **_feedback_schemas(),
                **_service_schemas(),
                "Error": _error_schema(),
            },
            "responses": {
                "NotFound": _error(404, "No such path"),
                "MethodNotAllowed": {
                    **_error(405, "The path does not take this method"),
                    "headers": {"Allow": {"description": "The methods the path takes.", "schema": {"type": "string"}}},
                },
            },
        },
    }


_DIGIT = {"type": "integer", "minimum": 0, "maximum": CLASSES - 1}
# The ten rounded probabilities sum to 1 within this: each is off by at most half the last place.
SUM_TOLERANCE = CLASSES * 0.5 * 10**-DECIMALS
ROUNDED = f"rounded to {DECIMALS} decimals"


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON object schema with these properties and no others."""
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def _answer(description: str, properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The schema of an answer: ``properties`` (all required but the ``optional`` ones), in the order the
    app writes them, which the description states."""
    order = ", ".join(f"`{name}`" for name in properties)
    required = [name for name in properties if name not in optional]
    return {**_object(required, properties), "description": f"{description} Keys in this order: {order}."}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: str, description: str) -> dict[str, Any]:
    """A response whose body is JSON of the named schema."""
    return {"description": description, "content": {JSON: {"schema": _ref("schemas", schema)}}}


def _error(status: int, description: str, *scopes: errors.Scope) -> dict[str, Any]:
    """A response of the ``Error`` shape whose code is one of those ``status`` has (for ``scopes``)."""
    codes = errors.codes(status, *scopes)
    return {
        "description": f"{description} (code: {', '.join(codes)})",
        "content": {
            JSON: {
                "schema": {
                    "allOf": [
                        _ref("schemas", "Error"),
                        {"properties": {"error": {"properties": {"code": {"enum": codes}}}}},
                    ]
                }
            }
        },
    }


def _get(operation_id: str, summary: str, tag: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary, "tags": [tag], "responses": {"200": ok}}}


def _info() -> dict[str, Any]:
    return {
        "title": "digits",
        "version": project_version(),
        "description": (
            "Draw a digit in the browser; a neural network written from scratch in NumPy reads it. "
            "Every answer is a JSON object whose keys come in the order its schema lists them (each schema's "
            "description names it); a reading leads with `label`, `confidence`, `probabilities` and `model`. "
            "Every error is JSON of the `Error` shape. A path not listed here answers 404 "
            "(`components/responses/NotFound`); a listed path asked with a method not listed answers 405 "
            "(`components/responses/MethodNotAllowed`, with an `Allow` header). "
            "A request body over the limit answers 413 on any path."
        ),
    }


def _paths(app: Flask, names: list[str]) -> dict[str, Any]:
    predict = _predict(app, names)
    explain = {
        **predict,
        "operationId": "explain",
        "summary": "Inside the network: its hidden layers for an image",
        "description": (
            "The same inputs and errors as `POST /predict`. Answers the model's reading with the activations "
            "of every hidden layer, and the incoming weights of the first hidden layer's most active units "
            f"(all of them up to {TOP_UNITS}) as {SIDE}x{SIDE} pictures: orange where ink excites the unit, blue "
            "where it inhibits it."
        ),
        "parameters": predict["parameters"][:1],
        "responses": {
            **predict["responses"],
            "400": _error(400, "The request or the image cannot be read, or there is no such model", "image"),
            "200": _json("Explanation", "The reading, each hidden layer's activations and the most active units."),
            "429": _rate_limited(app, "explain"),
        },
    }
    read = {
        **predict,
        "operationId": "read",
        "summary": "Read a whole number: every digit in an image, left to right",
        "description": (
            "The same inputs, limits, rate limit (the `predict` budget) and errors as `POST /predict`, and one "
            f"more: more than {MAX_DIGITS} digits in the image is 422 `too_many_digits`. The ink is split into "
            "digits: the strokes of one digit stay together (a 4 or a 5 drawn in two strokes, a dotted line), "
            "digits that touch are cut where their ink is thinnest, the cut the network reads most surely wins, "
            "and specks are ignored. Each digit is read as `POST /predict` reads a single one. The answer: "
            "`text`, the digits left to right; `digits`, each with its `label`, `confidence` and `box` "
            "(`[x0, y0, x1, y1]` in the posted image's pixels, the right and bottom edges exclusive); `model`."
        ),
        "parameters": predict["parameters"][:1],
        "responses": {
            **predict["responses"],
            "200": _json("NumberReading", "The digits read, left to right, each with its box."),
            "400": _error(400, "The request or the image cannot be read, or there is no such model", "image"),
            "422": _error(
                422,
                "The image holds no digit (blank, too faint, a speck, a dot or a short dash), or more than "
                f"{MAX_DIGITS} digits",
                "image",
                "number",
            ),
        },
    }
    document_schema = {
        "type": "object",
        "required": ["openapi", "info", "paths"],
        "properties": {"openapi": {"type": "string", "pattern": r"^3\."}},
    }
    page = {
        "description": "The HTML page: a canvas to draw on and the model's answer.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    metrics = {
        "description": (
            "Counts of what the server has answered, in Prometheus' text format (every gunicorn worker's, added "
            "up); the README lists the metrics. Served unless `DIGITS_METRICS=off`."
        ),
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    return {
        "/": _get("page", "The drawing page", "page", page),
        "/predict": {"post": predict},
        "/api/explain": {"post": explain},
        "/api/read": {"post": read},
        "/api/feedback": {"post": _feedback(app)},
        "/api/models": _get(
            "listModels",
            "The models this server has loaded",
            "service",
            _json("Models", "The default model's name and a description of every model."),
        ),
        "/healthz": _get(
            "health",
            "Liveness: the server is up with its models loaded",
            "service",
            _json("Health", "The server answers and names its models."),
        ),
        "/openapi.json": _get(
            "openapi",
            "This document",
            "service",
            {"description": "The OpenAPI 3.0 document of this API.", "content": {JSON: {"schema": document_schema}}},
        ),
        **(
            {prometheus.PATH: _get("metrics", "Prometheus metrics", "service", metrics)}
            if app.config["METRICS"]
            else {}
        ),
    }


def _predict(app: Flask, names: list[str]) -> dict[str, Any]:
    default = app.config["DEFAULT_MODEL"]
    max_bytes, max_side, max_pixels = app.config["MAX_BYTES"], app.config["MAX_SIDE"], app.config["MAX_PIXELS"]
    limits = (
        f"The image may be at most {max_bytes:,} bytes, {max_side:,} pixels on a side and {max_pixels:,} pixels "
        f"in all; the whole request body at most {app.config['MAX_CONTENT_LENGTH']:,} bytes. Over any limit: 413."
    )
    binary = {"type": "string", "format": "binary", "maxLength": max_bytes}
    return {
        "operationId": "predict",
        "summary": "Read the digit in an image",
        "description": (
            "Send an image of one handwritten digit, dark on light or drawn on a transparent canvas, in one of "
            "three forms: multipart form data with a file field `image`; the image itself as the body, with its "
            'image type; or JSON `{"image": ...}` with a data URL or plain base64. PNG, JPEG, GIF, BMP and WebP '
            f"are read whatever type is declared, as long as the declared type is one of these. {limits} "
            f"The answer leads with the reading: `label`, `confidence`, `probabilities` ({ROUNDED}), `model`; "
            "then `input` and `sample`, and with `?explain=1` `layers` and `units`. A blank or faint image, a "
            "speck, a dot (a tap on the pad) or a dash shorter "
            "than about two widths of its pen is not a digit: 422 `no_digit`."
        ),
        "tags": ["prediction"],
        "parameters": [
            {
                "name": "model",
                "in": "query",
                "required": False,
                "description": f"The model to ask (see `GET /api/models`); `{default}` when left out.",
                "schema": {"type": "string", "enum": names, "default": default},
            },
            {
                "name": "explain",
                "in": "query",
                "required": False,
                "description": (
                    "`1` or `true`: the answer also carries `layers` and `units`, what `POST /api/explain` "
                    "answers, so that a page showing what happens inside the network sends one request per "
                    "drawing. Any other value is 400 `invalid_parameter`."
                ),
                "schema": {"type": "string", "enum": list(QUERY_VALUES), "default": "0"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {"image": {**binary, "description": "The image file: exactly one."}},
                    },
                    "encoding": {"image": {"contentType": ", ".join([*IMAGE_TYPES, "application/octet-stream"])}},
                },
                **{mime: {"schema": {**binary, "description": "The image itself."}} for mime in IMAGE_TYPES},
                JSON: {"schema": _ref("schemas", "ImageJson")},
            },
        },
        "responses": {
            "200": _json("Prediction", "The digit the model reads, with its probabilities and the image it saw."),
            "400": _error(
                400,
                "The request or the image cannot be read, there is no such model, or `explain` is not one of "
                "its values",
                "image",
                "predict",
            ),
            "408": _error(408, "The body did not arrive in time; the connection is closed", "image"),
            "413": _error(413, "The body or the image is over a limit", "image"),
            "415": _error(415, "The content type, or the declared image type, is not accepted", "image"),
            "422": _error(
                422,
                "The image is readable but holds no digit: blank, too faint, a speck, a dot or a short dash",
                "image",
            ),
            "429": _rate_limited(app, "predict"),
        },
    }


def _rate_limited(app: Flask, budget: str) -> dict[str, Any]:
    """The 429 of an operation held to the rate-limit budget ``budget``, with the limits ``app`` sets."""
    limits = ratelimit.describe(ratelimit.configured_limits(app, budget))
    return {
        **_error(
            429,
            f"This client is over its budget for the operation (on this server: {limits}); try again after the "
            "seconds `Retry-After` gives",
            "limited",
        ),
        "headers": {
            "Retry-After": {
                "description": "Whole seconds until the budget lets a request through again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }


def _feedback(app: Flask) -> dict[str, Any]:
    return {
        "operationId": "feedback",
        "summary": "Confirm or correct a reading: store the sample to retrain on",
        "description": (
            f"Send back the `sample` token of a `/predict` answer with the digit it really is. The {SIDE}x{SIDE} "
            "image the network saw, that digit, the prediction, the model and the time are stored (nothing about "
            "the sender); the same token sent again replaces its label. Only tokens this server signed, and not "
            "older than the server's maximum age, are accepted."
        ),
        "tags": ["feedback"],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref("schemas", "FeedbackRequest")}}},
        "responses": {
            "201": _json("FeedbackStored", "Stored."),
            "400": _error(
                400, "Malformed JSON, a missing field, a label that is not a digit, a foreign or old token", "feedback"
            ),
            "408": _error(408, "The body did not arrive in time; the connection is closed", "feedback"),
            "413": _error(413, "The body is over 8 KiB", "feedback"),
            "415": _error(415, "The body is not JSON", "feedback"),
            "429": _rate_limited(app, "feedback"),
            "503": _error(
                503, "The feedback database cannot store samples now (read-only, full, unreachable)", "feedback"
            ),
        },
    }


def _confidence() -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1, "description": f"The probability of `label`, {ROUNDED}."}


def _probabilities() -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": CLASSES,
        "maxItems": CLASSES,
        "items": {"type": "number", "minimum": 0, "maximum": 1},
        "description": (
            f"The probability of each digit 0-{CLASSES - 1}, {ROUNDED}: they sum to 1 within {SUM_TOLERANCE:g}."
        ),
    }


def _reading_schemas() -> dict[str, Any]:
    return {
        "ImageJson": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {
                    "type": "string",
                    "description": (
                        "The image as a base64 data URL (`data:image/png;base64,...`, with one of the "
                        "accepted image types) or as plain base64; whitespace is ignored."
                    ),
                    "example": EXAMPLE_IMAGE,
                }
            },
        },
        "Prediction": _answer(
            "The digit the model reads, then the image it saw and a token to confirm or correct the reading with.",
            {
                "label": {**_DIGIT, "description": "The digit read."},
                "confidence": _confidence(),
                "probabilities": _probabilities(),
                "model": _ref("schemas", "ModelName"),
                "input": {
                    "type": "string",
                    "pattern": "^data:image/png;base64,",
                    "description": f"The {SIDE}x{SIDE} greyscale image the network saw, as a PNG data URL.",
                },
                "sample": {
                    "type": "string",
                    "maxLength": 2048,
                    "description": "A signed token of this reading, for `POST /api/feedback`.",
                },
                **_inside(),
            },
            optional=tuple(_inside()),
        ),
        "NumberReading": _answer(
            "The digits read in the image, left to right.",
            {
                "text": {
                    "type": "string",
                    "pattern": f"^[0-9]{{1,{MAX_DIGITS}}}$",
                    "description": "The digits' labels, left to right.",
                },
                "digits": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_DIGITS,
                    "items": _answer(
                        "One digit of the number.",
                        {
                            "label": {**_DIGIT, "description": "The digit read."},
                            "confidence": _confidence(),
                            "box": {
                                "type": "array",
                                "minItems": 4,
                                "maxItems": 4,
                                "items": {"type": "integer", "minimum": 0},
                                "description": (
                                    "`[x0, y0, x1, y1]`: the digit's ink in the posted image's pixels, "
                                    "the right and bottom edges exclusive."
                                ),
                            },
                        },
                    ),
                },
                "model": _ref("schemas", "ModelName"),
            },
        ),
        "Explanation": _explanation_schema(),
    }


def _explanation_schema() -> dict[str, Any]:
    """The answer of /api/explain: the reading, then each hidden layer and the most active units."""
    return _answer(
        "The reading, as `POST /predict` gives it, then what the hidden layers make of the image.",
        {
            "label": {**_DIGIT, "description": "The digit read."},
            "confidence": _confidence(),
            "probabilities": _probabilities(),
            "model": _ref("schemas", "ModelName"),
            **_inside(),
        },
    )


def _inside() -> dict[str, Any]:
    """What the hidden layers make of the image: ``layers`` and ``units``, in /api/explain's answer and
    in /predict's with ``?explain=1``."""
    return {
        "layers": {
            "type": "array",
            "description": "One entry per hidden layer, the first hidden layer first.",
            "items": _object(
                ["index", "size", "activation", "values", "max"],
                {
                    "index": {"type": "integer", "minimum": 1},
                    "size": {"type": "integer", "minimum": 1},
                    "activation": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "number"}, "description": ROUNDED},
                    "max": {"type": "number", "description": ROUNDED},
                },
            ),
        },
        "units": _object(
            ["layer", "shown", "of", "items"],
            {
                "layer": {"type": "integer", "enum": [1]},
                "shown": {"type": "integer", "minimum": 0, "maximum": TOP_UNITS},
                "of": {"type": "integer", "minimum": 0},
                "items": {
                    "type": "array",
                    "maxItems": TOP_UNITS,
                    "description": "The most active units first.",
                    "items": _object(
                        ["unit", "activation", "excitation", "weights"],
                        {
                            "unit": {"type": "integer", "minimum": 0},
                            "activation": {"type": "number"},
                            "excitation": {
                                "type": "number",
                                "minimum": 0,
                                "maximum": 1,
                                "description": "Activation over the largest shown.",
                            },
                            "weights": {
                                "type": "string",
                                "pattern": "^data:image/png;base64,",
                                "description": f"The unit's incoming weights as a {SIDE}x{SIDE} PNG.",
                            },
                        },
                    ),
                },
            },
        ),
    }


def _feedback_schemas() -> dict[str, Any]:
    return {
        "FeedbackRequest": {
            "type": "object",
            "required": ["sample", "label"],
            "properties": {
                "sample": {"type": "string", "description": "The `sample` token of a `/predict` answer."},
                "label": {**_DIGIT, "description": "The right digit."},
            },
        },
        "FeedbackStored": _answer(
            "The stored sample: its row, the label given, what the model had read and which model.",
            {
                "id": {"type": "integer", "minimum": 1},
                "label": _DIGIT,
                "prediction": _DIGIT,
                "model": {"type": "string"},
                "stored": {"type": "boolean", "enum": [True]},
            },
        ),
    }


def _service_schemas() -> dict[str, Any]:
    return {
        "Model": _answer(
            "One model: its name, its shape and how it was trained.",
            {
                "name": _ref("schemas", "ModelName"),
                "sizes": {
                    "type": "array",
                    "minItems": 2,
                    "items": {"type": "integer", "minimum": 1},
                    "description": f"Neurons per layer, {PIXELS} inputs first and {CLASSES} outputs last.",
                },
                "activation": {"type": "string", "description": "The hidden layers' activation."},
                "cost": {"type": "string", "description": "The cost the network was trained with."},
                "parameters": {"type": "integer", "minimum": 0, "description": "Weights and biases."},
                "test_accuracy": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "nullable": True,
                    "description": "Accuracy on the MNIST test set, when it was measured.",
                },
                "trained": {
                    "type": "string",
                    "nullable": True,
                    "description": "When the weights were trained or saved (ISO 8601), when known.",
                },
            },
        ),
        "Models": _answer(
            "The model answers use when none is asked for, then every model.",
            {
                "default": _ref("schemas", "ModelName"),
                "models": {"type": "array", "minItems": 1, "items": _ref("schemas", "Model")},
            },
        ),
        "Health": _answer(
            "The server is up, with these models.",
            {
                "status": {"type": "string", "enum": ["ok"]},
                "models": {"type": "array", "minItems": 1, "items": _ref("schemas", "ModelName")},
            },
        ),
    }


def _error_schema() -> dict[str, Any]:
    return _answer(
        "Every error of the app.",
        {
            "error": _answer(
                "The error's code, one of those listed, then what went wrong.",
                {
                    "code": {"type": "string", "enum": [e.code for e in errors.ERRORS if e.scope != "review"]},
                    "message": {"type": "string", "description": "What went wrong, for a person."},
                },
            )
        },
    )
