"""The ways a client can post an image to /predict (and /api/explain) through a Flask test client.

``FORMS`` lists them all, for tests that must hold for every one: a multipart upload, the raw
bytes as the body, a data: URL in JSON, and bare base64 in JSON.
"""

from __future__ import annotations

import base64
import io

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def data_url(data: bytes, mime: str = "image/png") -> str:
    """``data`` as a base64 data: URL of type ``mime``."""
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def post_multipart(
    client: FlaskClient, data: bytes, filename: str = "digit.png", mime: str = "image/png", url: str = "/predict"
) -> TestResponse:
    """Upload ``data`` as the file field ``image`` of a multipart form."""
    return client.post(url, data={"image": (io.BytesIO(data), filename, mime)}, content_type="multipart/form-data")


def post_raw(client: FlaskClient, data: bytes, mime: str = "image/png", url: str = "/predict") -> TestResponse:
    """Send ``data`` as the request body with the content type ``mime``."""
    return client.post(url, data=data, content_type=mime)


def post_json(client: FlaskClient, data: bytes, url: str = "/predict") -> TestResponse:
    """Send ``{"image": <data: URL of data>}``."""
    return client.post(url, json={"image": data_url(data)})


def post_base64(client: FlaskClient, data: bytes, url: str = "/predict") -> TestResponse:
    """Send ``{"image": <bare base64 of data>}``."""
    return client.post(url, json={"image": base64.b64encode(data).decode()})


FORMS = [post_multipart, post_raw, post_json, post_base64]
