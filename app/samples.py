"""Signed sample tokens: how ``/predict`` stays stateless and ``/api/feedback`` stays honest.

``/predict`` answers with a token that carries what the network saw (the 28x28 input), its
prediction, the model's name and a random sample id, signed with HMAC-SHA256 under
``DIGITS_SECRET_KEY``. The feedback request sends the token back with a label; only a token
this server signed, unaltered, is accepted, so nobody can store an image the network never saw.

A token is ``<payload>.<signature>``, both URL-safe base64 without padding; the payload is
``version (1 byte) | sample id (16) | prediction (1) | model name length (1) | model name | pixels (784)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

import numpy as np

from model import preprocess

VERSION = 1
_ID_BYTES = 16
_PIXELS = 28 * 28
MAX_TOKEN_CHARS = 2048  # a real token is about 1,100 characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class InvalidSample(ValueError):
    """A token this server did not sign, or signed and then altered."""


@dataclass(frozen=True)
class Sample:
    """What the network saw and said: ``pixels`` (28, 28) uint8, light ink on black."""

    sample_id: str
    pixels: np.ndarray
    prediction: int
    model: str


def new_sample(x: np.ndarray, prediction: int, model: str) -> Sample:
    """A sample with a fresh random id for the network input ``x`` (784 values in [0, 1])."""
    pixels = preprocess.to_uint8(np.reshape(x, (28, 28)))
    return Sample(os.urandom(_ID_BYTES).hex(), pixels, int(prediction), model)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _signature(payload: bytes, key: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def sign(sample: Sample, key: bytes) -> str:
    """The token for ``sample`` under ``key``."""
    name = sample.model.encode("utf-8")
    if len(name) > 255:
        raise ValueError("model names are at most 255 bytes")
    payload = (
        bytes([VERSION])
        + bytes.fromhex(sample.sample_id)
        + bytes([sample.prediction, len(name)])
        + name
        + sample.pixels.astype(np.uint8).tobytes()
    )
    return f"{_b64(payload)}.{_b64(_signature(payload, key))}"


def verify(token: object, key: bytes) -> Sample:
    """The sample in ``token``; raises ``InvalidSample`` unless this key signed exactly it."""
    # Only the one spelling sign() writes: no padding, whitespace or other base64 alphabets.
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        raise InvalidSample("not a sample token from this server")
    encoded_payload, encoded_signature = token.split(".")
    try:
        payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
    except (binascii.Error, ValueError):
        raise InvalidSample("not a sample token from this server") from None
    if not hmac.compare_digest(signature, _signature(payload, key)):
        raise InvalidSample("the sample token's signature does not match: it was altered or comes from elsewhere")
    # Signed by this server, so well formed; checked anyway, as a key could be shared by mistake.
    head = 1 + _ID_BYTES + 2
    if len(payload) < head or payload[0] != VERSION:
        raise InvalidSample("unknown sample token version")
    prediction, name_length = payload[head - 2], payload[head - 1]
    if len(payload) != head + name_length + _PIXELS or prediction > 9:
        raise InvalidSample("malformed sample token")
    pixels = np.frombuffer(payload, dtype=np.uint8, offset=head + name_length).reshape(28, 28)
    name = payload[head : head + name_length].decode("utf-8", errors="replace")
    return Sample(payload[1 : 1 + _ID_BYTES].hex(), pixels.copy(), prediction, name)
