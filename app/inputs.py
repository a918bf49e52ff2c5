"""How an image arrives in a request: the three input forms of ``/predict`` and ``/api/explain``.

``image_bytes()`` returns the uploaded image's bytes from whichever form the request uses, or
stops it with a JSON error (``app.errors``): multipart form data with a file field ``image``; a
raw body with an image content type; JSON ``{"image": "<data URL or base64>"}``. The declared
type only decides what is accepted (415); the bytes may be any accepted format.

Every body the app reads, by whatever route, arrives within ``REQUEST_TIMEOUT`` seconds of the
request reaching the app, or the request is answered 408 (``BodyDeadline``, installed by
``init_app``): a client trickling its body a byte a second holds its connection that long, no
longer. Under gevent the read itself is interrupted and gunicorn then closes the connection (its
body reader failed, so the next request's start is unknown); elsewhere the deadline is checked
before each read.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from app import cooperative
from app.errors import fail

# The content types accepted for an image (the formats of model.preprocess.ACCEPTED_FORMATS).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/x-ms-bmp", "image/webp")
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*),(?P<data>.*)", re.DOTALL)


class BodyTimeout(RequestTimeout):
    """The body did not arrive in time: answered 408 ``request_timeout`` (``app.errors``)."""


class _DeadlineInput:
    """A request's ``wsgi.input`` that reads only until ``ends`` (a ``time.monotonic()`` value)."""

    def __init__(self, stream: Any, ends: float, seconds: float) -> None:
        self._stream = stream
        self._ends = ends
        self._seconds = seconds

    def read(self, size: int | None = None) -> bytes:
        return self._within(self._stream.read, size)

    def readline(self, size: int | None = None) -> bytes:
        return self._within(self._stream.readline, size)

    def readlines(self, hint: int | None = None) -> list[bytes]:
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def _within(self, read: Callable[..., bytes], size: int | None) -> bytes:
        late = BodyTimeout(
            f"the request body did not arrive within {self._seconds:g} seconds: send the whole request at once"
        )
        left = self._ends - time.monotonic()
        if left <= 0:
            raise late
        with cooperative.deadline(left, late):
            return read() if size is None else read(size)


class BodyDeadline:
    """WSGI middleware: a request's body must be read within ``config["REQUEST_TIMEOUT"]`` seconds
    of the request reaching the app (``BodyTimeout`` when it is not)."""

    def __init__(self, wsgi_app: Callable[..., Any], config: Mapping[str, Any]) -> None:
        self.wsgi_app = wsgi_app
        self.config = config

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        seconds = float(self.config["REQUEST_TIMEOUT"])
        if environ.get("wsgi.input") is not None:
            environ["wsgi.input"] = _DeadlineInput(environ["wsgi.input"], time.monotonic() + seconds, seconds)
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Hold every request's body to ``REQUEST_TIMEOUT`` (``BodyDeadline``)."""
    app.wsgi_app = BodyDeadline(app.wsgi_app, app.config)  # type: ignore[method-assign]


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
        return body()
    if mimetype == "application/json":
        return _from_json()
    fail(
        "unsupported_media_type",
        ("this content type is" if mimetype else "a request without a content type is")
        + " not accepted: send multipart/form-data with a file field 'image', "
        f"an image body ({', '.join(IMAGE_TYPES)}) or application/json with an 'image' field",
    )


def _check_image_type(mimetype: str) -> None:
    if mimetype.lower() not in IMAGE_TYPES:
        fail(
            "unsupported_media_type",
            "this image type is not accepted; accepted: PNG, JPEG, GIF, BMP, WebP",
        )


def body(limit: int | None = None) -> bytes:
    """The request body, refused with 413 when over ``limit`` (default ``MAX_CONTENT_LENGTH``).

    Werkzeug refuses a longer declared Content-Length itself, but a chunked body (no
    Content-Length) it silently cuts off at the limit, which would read as a truncated image.
    """
    if limit is not None and (request.content_length or 0) > limit:
        fail("too_large", f"the request body is too large: at most {limit:,} bytes here")
    data = request.get_data(cache=False)
    if request.content_length is None and len(data) >= current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()
    if limit is not None and len(data) > limit:
        fail("too_large", f"the request body is too large: at most {limit:,} bytes here")
    return data


def json_object(body: bytes, example: str) -> dict[str, Any]:
    """``body`` parsed as a JSON object, or a 400 saying what is wrong with it."""
    try:
        # Parsed here rather than by request.get_json so that absurdly nested JSON, which makes
        # the parser recurse too deep, is a 400 like any other malformed body.
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):
        fail("invalid_json", "the body is not valid JSON")
    if not isinstance(parsed, dict):
        fail("invalid_json", f"the JSON body must be an object like {example}")
    return parsed


def _from_form() -> bytes:
    files = request.files.getlist("image")
    if not files:
        fail("missing_field", "the form has no file field 'image'")
    if len(files) > 1:
        fail("too_many_files", f"the form has {len(files)} files in 'image'; send one")
    upload = files[0]
    declared = (upload.mimetype or "").lower()
    if declared not in ("", "application/octet-stream"):  # what browsers send for an unknown type
        _check_image_type(declared)
    return upload.read()


def _from_json() -> bytes:
    fields = json_object(body(), example='{"image": "data:image/png;base64,..."}')
    if "image" not in fields:
        fail("missing_field", "the JSON body has no 'image' field")
    text = fields["image"]
    if not isinstance(text, str):
        fail("invalid_field", "'image' must be a string: a data URL or base64")
    if text.startswith("data:"):
        match = _DATA_URL.fullmatch(text)
        if match is None:
            fail("invalid_data_url", "'image' is not a valid data URL")
        _check_image_type(match["type"] or "text/plain")
        if ";base64" not in match["params"].lower():
            fail("invalid_data_url", "the data URL must be base64-encoded (data:image/png;base64,...)")
        text = match["data"]
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        fail("invalid_base64", "'image' is not valid base64")
