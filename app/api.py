"""The JSON API: ``POST /predict``, ``POST /api/explain``, ``POST /api/read``, ``POST /api/feedback``,
``GET /api/models``, ``GET /healthz`` and ``GET /openapi.json``.

An image travels: request body -> ``app.inputs.image_bytes`` (one of three input forms) ->
``model.predict.read_digit`` (``model.preprocess``'s checks, decoding and 28x28 MNIST form, then
``Network.predict_proba``) -> the answer, which carries a signed ``sample`` token
(``app.samples``); ``/api/feedback`` takes the token back with a person's label and stores the
sample (``model.feedback``). ``/api/read`` reads a whole number instead: ``model.predict.read_number``
splits the ink into digits (``model.segment``) and reads each the same way. Errors stop a request with
``app.errors.fail``.

Every answer is a dict built in the order ``app.openapi`` documents (``create_app`` turns off
Flask's sorting of keys): a reading leads with ``label``, ``confidence``, ``probabilities`` and
``model``, the numbers rounded to ``explain.DECIMALS`` places.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app import cooperative, explain, openapi, prometheus, ratelimit, samples
from app.errors import fail
from app.inputs import body, image_bytes, json_object
from app.models import Model
from model import predict as reader
from model import preprocess
from model.feedback import FeedbackStore
from model.predict import Reading, read_digit

bp = Blueprint("api", __name__)

# A feedback request is a token of about 1,100 characters and a label.
FEEDBACK_MAX_BODY = 8 * 1024


def models() -> dict[str, Model]:
    return current_app.extensions["digits.models"]


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok", "models": list(models())})


@bp.get("/api/models")
def list_models() -> Response:
    return jsonify(
        {"default": current_app.config["DEFAULT_MODEL"], "models": [m.describe() for m in models().values()]}
    )


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi.document(current_app))


@bp.post("/predict")
@ratelimit.limit("predict")
def predict() -> Response:
    """The digit in the image, with the image the network saw and a token to give feedback with;
    with ``?explain=1`` also what the hidden layers make of it (``app.explain``)."""
    inside = explain.QUERY_VALUES.get(request.args.get("explain", "0").lower())
    if inside is None:
        fail("invalid_parameter", f"'explain' must be one of {', '.join(explain.QUERY_VALUES)}")
    model, reading = _read()
    sample = samples.new_sample(reading.image, reading.label, model.name)
    return jsonify(
        {
            **_answer(model, reading),
            "input": "data:image/png;base64," + base64.b64encode(preprocess.to_png(sample.pixels)).decode("ascii"),
            "sample": samples.sign(sample, samples.keys_of(current_app)),
            **(explain.explain(model.network, reading.image) if inside else {}),
        }
    )


@bp.post("/api/explain")
@ratelimit.limit("explain")
def explain_digit() -> Response:
    """The reading plus what the hidden layers make of the image (``app.explain``)."""
    model, reading = _read()
    return jsonify({**_answer(model, reading), **explain.explain(model.network, reading.image)})


@bp.post("/api/read")
@ratelimit.limit("predict")
def read_number() -> Response:
    """Every digit in the image, left to right, each with its reading and its box."""
    model = _model()
    number = reader.read_number(
        model.network, image_bytes(), _limits(), judge=current_app.extensions["digits.verifier"]
    )
    prometheus.count_readings(model.name, [(d.label, d.confidence) for d in number.digits])
    return jsonify(
        {
            "text": number.text,
            "digits": [
                {"label": d.label, "confidence": round(d.confidence, explain.DECIMALS), "box": list(d.box)}
                for d in number.digits
            ],
            "model": model.name,
        }
    )


@bp.post("/api/feedback")
@ratelimit.limit("feedback")
def feedback() -> tuple[Response, int]:
    """Store a ``/predict`` answer's sample with the label a person gives it."""
    example = '{"sample": "<token from /predict>", "label": 7}'
    if request.mimetype != "application/json":
        fail("unsupported_media_type", f"send application/json: {example}")
    fields = json_object(body(limit=FEEDBACK_MAX_BODY), example=example)
    for name in ("sample", "label"):
        if name not in fields:
            fail("missing_field", f"the JSON body has no '{name}' field")
    label = fields["label"]
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
        fail("invalid_label", "'label' must be a digit, an integer from 0 to 9")
    try:
        sample = samples.verify(fields["sample"], samples.keys_of(current_app), current_app.config["SAMPLE_MAX_AGE"])
    except samples.ExpiredSample as e:
        fail("expired_sample", f"'sample' is too old to be stored: {e}; draw the digit again")
    except samples.InvalidSample as e:
        fail("invalid_sample", f"'sample' must be the token of a /predict answer from this server: {e}")
    # The reading's confidence, for the review to put confident readings a person contradicts first: the
    # model's probability for its prediction on the pixels as stored, the (784, 1) column in [0, 1] the trainer
    # would see (the reading's own input rounded to bytes). Unknown when the model is no longer served.
    model = models().get(sample.model)
    confidence = None
    if model is not None:
        column = sample.pixels.reshape(-1, 1) / 255.0
        confidence = float(model.network.predict_proba(column)[sample.prediction, 0])
    store: FeedbackStore = current_app.extensions["digits.feedback"]
    # SQLite may wait up to its busy timeout for another writer: not on the thread serving the other requests.
    row = cooperative.off_event_loop(
        store.add,
        sample.sample_id,
        sample.pixels,
        sample.prediction,
        sample.model,
        label,
        confidence,
        blocking=store.blocks_event_loop,
    )
    return jsonify(
        {"id": row, "label": label, "prediction": sample.prediction, "model": sample.model, "stored": True}
    ), 201


def _model() -> Model:
    """The model the request asks for (``?model=``), else the default one."""
    name = request.args.get("model", current_app.config["DEFAULT_MODEL"])
    model = models().get(name)
    if model is None:
        fail("unknown_model", f"no such model; known models: {', '.join(models())}")
    return model


def _limits() -> preprocess.Limits:
    return preprocess.Limits(
        max_bytes=current_app.config["MAX_BYTES"],
        max_side=current_app.config["MAX_SIDE"],
        max_pixels=current_app.config["MAX_PIXELS"],
    )


def _read() -> tuple[Model, Reading]:
    """The model the request asks for and what it reads in the request's image."""
    model = _model()
    reading = read_digit(model.network, image_bytes(), _limits())
    prometheus.count_readings(model.name, [(reading.label, reading.confidence)])
    return model, reading


def _answer(model: Model, reading: Reading) -> dict[str, Any]:
    """The reading, first in every answer that reads a digit: what a person looks at first."""
    return {
        "label": reading.label,
        "confidence": round(reading.confidence, explain.DECIMALS),
        "probabilities": [round(p, explain.DECIMALS) for p in reading.probabilities.tolist()],
        "model": model.name,
    }
