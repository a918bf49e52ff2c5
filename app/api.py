"""The JSON API: ``POST /predict``, ``POST /api/explain``, ``POST /api/feedback``,
``GET /api/models``, ``GET /healthz``, ``GET /openapi.json``, and JSON errors.

An image travels: request body -> ``image_bytes`` (one of three input forms) ->
``preprocess.load_image`` (format and size checks, decoding) -> ``preprocess.to_mnist`` (the
28x28 MNIST form) -> ``Network.predict_proba`` -> the answer, which carries a signed ``sample``
token (``app.samples``); ``/api/feedback`` takes the token back with a person's label and
stores the sample (``model.feedback``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, NoReturn

import numpy as np
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

try:  # gunicorn's errors for a body it cannot de-chunk; another server has its own
    from gunicorn.http.errors import ParseException as BrokenBody
except ImportError:  # pragma: no cover - serving without gunicorn

    class BrokenBody(Exception):  # type: ignore[no-redef]
        """Never raised: stands in for gunicorn's body parse errors."""


from app import explain, samples
from app.models import Model
from model import preprocess
from model.feedback import FeedbackError, FeedbackStore

bp = Blueprint("api", __name__)

# The content types accepted for an image (the formats of preprocess.ACCEPTED_FORMATS).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/x-ms-bmp", "image/webp")
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*),(?P<data>.*)", re.DOTALL)


class ApiError(Exception):
    """An error answered as ``{"error": {"code": ..., "message": ...}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def fail(status: int, code: str, message: str) -> NoReturn:
    raise ApiError(status, code, message)


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """The one JSON error shape every error of the app takes."""
    return jsonify(error={"code": code, "message": message}), status


# A feedback request is a token of about 1,100 characters and a label.
FEEDBACK_MAX_BODY = 8 * 1024

# Preprocessing's errors and the HTTP answer to each.
_IMAGE_ERRORS = {
    preprocess.ImageTooLarge: (413, "too_large"),
    preprocess.UnreadableImage: (400, "invalid_image"),
    preprocess.NoDigitFound: (422, "no_digit"),
}


def register_error_handlers(app: Flask) -> None:
    """Answer every error of the app, the framework's own (404, 405, 413, ...) included, as JSON."""

    @app.errorhandler(ApiError)
    def api_error(e: ApiError) -> tuple[Response, int]:
        return error_response(e.status, e.code, e.message)

    @app.errorhandler(preprocess.ImageError)
    def image_error(e: preprocess.ImageError) -> tuple[Response, int]:
        status, code = _IMAGE_ERRORS.get(type(e), (400, "invalid_image"))
        return error_response(status, code, str(e))

    @app.errorhandler(FeedbackError)
    def feedback_unavailable(e: FeedbackError) -> tuple[Response, int]:
        current_app.logger.error("feedback not stored: %s", e)
        return error_response(503, "feedback_unavailable", f"feedback cannot be stored right now: {e}")

    @app.errorhandler(BrokenBody)
    def broken_body(e: Exception) -> tuple[Response, int]:
        return error_response(400, "bad_request", "the request body cannot be read: its chunked encoding is broken")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[Response, int]:
        code = (e.name or "error").lower().replace(" ", "_")
        status = e.code or 500
        if status == 413:
            code = "too_large"
            message = (
                f"the request body is too large: at most {current_app.config['MAX_CONTENT_LENGTH']:,} bytes, "
                f"for an image of at most {current_app.config['MAX_BYTES']:,} bytes"
            )
        else:
            message = e.description or e.name
        response, status = error_response(status, code, message)
        if status == 405 and e.get_response().headers.get("Allow"):
            response.headers["Allow"] = e.get_response().headers["Allow"]
        return response, status


def models() -> dict[str, Model]:
    return current_app.extensions["digits.models"]


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok", models=list(models()))


@bp.get("/api/models")
def list_models() -> Response:
    return jsonify(default=current_app.config["DEFAULT_MODEL"], models=[m.describe() for m in models().values()])


@bp.get("/openapi.json")
def openapi_document() -> Response:
    from app.openapi import document  # imported here: app.openapi imports this module

    return jsonify(document(current_app))


@bp.post("/predict")
def predict() -> Response:
    """The digit in the image, with the image the network saw and a token to give feedback with."""
    model, x, probabilities = _read_digit()
    answer = _answer(model, probabilities)
    sample = samples.new_sample(x, answer["label"], model.name)
    return jsonify(
        **answer,
        input="data:image/png;base64," + base64.b64encode(preprocess.to_png(x)).decode("ascii"),
        sample=samples.sign(sample, _secret_key()),
    )


@bp.post("/api/explain")
def explain_digit() -> Response:
    """The reading plus what the hidden layers make of the image (``app.explain``)."""
    model, x, probabilities = _read_digit()
    return jsonify(**_answer(model, probabilities), **explain.explain(model.network, x))


@bp.post("/api/feedback")
def feedback() -> tuple[Response, int]:
    """Store a ``/predict`` answer's sample with the label a person gives it."""
    if request.mimetype != "application/json":
        fail(415, "unsupported_media_type", 'send application/json: {"sample": "<token from /predict>", "label": 7}')
    body = _json_object(_body(limit=FEEDBACK_MAX_BODY), example='{"sample": "<token from /predict>", "label": 7}')
    for name in ("sample", "label"):
        if name not in body:
            fail(400, "missing_field", f"the JSON body has no '{name}' field")
    label = body["label"]
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
        fail(400, "invalid_label", "'label' must be a digit, an integer from 0 to 9")
    try:
        sample = samples.verify(body["sample"], _secret_key())
    except samples.InvalidSample as e:
        fail(400, "invalid_sample", f"'sample' must be the token of a /predict answer from this server: {e}")
    store: FeedbackStore = current_app.extensions["digits.feedback"]
    row = store.add(sample.sample_id, sample.pixels, sample.prediction, sample.model, label)
    return jsonify(id=row, label=label, prediction=sample.prediction, model=sample.model, stored=True), 201


def _read_digit() -> tuple[Model, np.ndarray, np.ndarray]:
    """The request's model, the 784 inputs its image becomes, and the model's 10 probabilities."""
    name = request.args.get("model", current_app.config["DEFAULT_MODEL"])
    model = models().get(name)
    if model is None:
        fail(400, "unknown_model", f"no such model; known models: {', '.join(models())}")
    limits = preprocess.Limits(
        max_bytes=current_app.config["MAX_BYTES"],
        max_side=current_app.config["MAX_SIDE"],
        max_pixels=current_app.config["MAX_PIXELS"],
    )
    # The declared type only decides what is accepted (415); the bytes may be any accepted format.
    x = preprocess.to_mnist(preprocess.load_image(image_bytes(), limits))
    probabilities = model.network.predict_proba(x.reshape(-1, 1))[:, 0].astype(float)
    return model, x, probabilities


def _answer(model: Model, probabilities: np.ndarray) -> dict[str, Any]:
    label = int(probabilities.argmax())
    return {
        "label": label,
        "confidence": float(probabilities[label]),
        "probabilities": probabilities.tolist(),
        "model": model.name,
    }


def _secret_key() -> bytes:
    return current_app.config["SECRET_KEY"]


def image_bytes() -> bytes:
    """The uploaded image, from whichever input form the request uses.

    Three forms: multipart form data with a file field ``image``; a raw body with an
    ``image/*`` content type; JSON ``{"image": "<data URL or base64>"}``.
    """
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        return _from_form()
    if mimetype.startswith("image/"):
        _check_image_type(mimetype)
        return _body()
    if mimetype == "application/json":
        return _from_json()
    fail(
        415,
        "unsupported_media_type",
        ("this content type is" if mimetype else "a request without a content type is")
        + " not accepted: send multipart/form-data with a file field 'image', "
        f"an image body ({', '.join(IMAGE_TYPES)}) or application/json with an 'image' field",
    )


def _check_image_type(mimetype: str) -> None:
    if mimetype.lower() not in IMAGE_TYPES:
        fail(
            415,
            "unsupported_media_type",
            "this image type is not accepted; accepted: PNG, JPEG, GIF, BMP, WebP",
        )


def _body(limit: int | None = None) -> bytes:
    """The request body, refused with 413 when over ``limit`` (default ``MAX_CONTENT_LENGTH``).

    Werkzeug refuses a longer declared Content-Length itself, but a chunked body (no
    Content-Length) it silently cuts off at the limit, which would read as a truncated image.
    """
    if limit is not None and (request.content_length or 0) > limit:
        fail(413, "too_large", f"the request body is too large: at most {limit:,} bytes here")
    data = request.get_data(cache=False)
    if request.content_length is None and len(data) >= current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()
    if limit is not None and len(data) > limit:
        fail(413, "too_large", f"the request body is too large: at most {limit:,} bytes here")
    return data


def _json_object(body: bytes, example: str) -> dict[str, Any]:
    """``body`` parsed as a JSON object, or a 400 saying what is wrong with it."""
    try:
        # Parsed here rather than by request.get_json so that absurdly nested JSON, which makes
        # the parser recurse too deep, is a 400 like any other malformed body.
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):
        fail(400, "invalid_json", "the body is not valid JSON")
    if not isinstance(parsed, dict):
        fail(400, "invalid_json", f"the JSON body must be an object like {example}")
    return parsed


def _from_form() -> bytes:
    files = request.files.getlist("image")
    if not files:
        fail(400, "missing_field", "the form has no file field 'image'")
    if len(files) > 1:
        fail(400, "too_many_files", f"the form has {len(files)} files in 'image'; send one")
    upload = files[0]
    declared = (upload.mimetype or "").lower()
    if declared not in ("", "application/octet-stream"):  # what browsers send for an unknown type
        _check_image_type(declared)
    return upload.read()


def _from_json() -> bytes:
    body = _json_object(_body(), example='{"image": "data:image/png;base64,..."}')
    if "image" not in body:
        fail(400, "missing_field", "the JSON body has no 'image' field")
    text = body["image"]
    if not isinstance(text, str):
        fail(400, "invalid_field", "'image' must be a string: a data URL or base64")
    if text.startswith("data:"):
        match = _DATA_URL.fullmatch(text)
        if match is None:
            fail(400, "invalid_data_url", "'image' is not a valid data URL")
        _check_image_type(match["type"] or "text/plain")
        if ";base64" not in match["params"].lower():
            fail(400, "invalid_data_url", "the data URL must be base64-encoded (data:image/png;base64,...)")
        text = match["data"]
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        fail(400, "invalid_base64", "'image' is not valid base64")
