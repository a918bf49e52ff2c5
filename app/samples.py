"""Signed sample tokens: how ``/predict`` stays stateless and ``/api/feedback`` stays honest.

``/predict`` answers with a token that carries what the network saw (the 28x28 input), its
prediction, the model's name, a random sample id and the time it was issued, signed under
``DIGITS_SECRET_KEY``. The feedback request sends the token back with a label; only a token
this server signed, unaltered and not older than ``DIGITS_SAMPLE_MAX_AGE``, is accepted, so
nobody can store an image the network never saw.

Signing is itsdangerous' ``TimestampSigner`` (HMAC-SHA256, the key derived by HMAC with a salt
of its own, so these signatures mean nothing elsewhere). A token is
``<payload>.<timestamp>.<signature>``, each URL-safe base64 without padding, about 1,130
characters; the payload is
``version (1 byte) | sample id (16) | prediction (1) | model name length (1) | model name | pixels (784)``.

Keys are passed newest first: the newest signs, any of them verifies, so a key can be rotated
by putting a new one in front and dropping the old one once its tokens have expired.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from itsdangerous import BadData, BadSignature, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

from model import preprocess
from model.shape import CLASSES, PIXELS, SIDE

VERSION = 2  # 1 was the hand-made HMAC format without an issue time
_ID_BYTES = 16
_HEAD = 1 + _ID_BYTES + 2  # version, id, prediction, name length
MAX_TOKEN_CHARS = 2048  # a real token is about 1,130 characters
# Servers sharing a key may disagree about the time by a little; more than this is a wrong clock.
FUTURE_LEEWAY = 60
_SALT = b"digits.sample-token"
_PART = "[A-Za-z0-9_-]+"
_TOKEN = re.compile(rf"{_PART}\.{_PART}\.{_PART}")

Key = str | bytes

_NOT_A_TOKEN = "this is not a sample token from this server; send the 'sample' string of a /predict answer unchanged"
_ALTERED = (
    "the sample token's signature does not match: it was altered, or signed under a key this server no longer "
    "has; read the digit again and send feedback with the new token"
)


class InvalidSample(ValueError):
    """A token this server did not sign, signed and then altered, or malformed; the message says what to do."""


class ExpiredSample(InvalidSample):
    """A token this server signed, but longer ago than the accepted age."""


@dataclass(frozen=True)
class Sample:
    """What the network saw and said: ``pixels`` (28, 28) uint8, light ink on black."""

    sample_id: str
    pixels: np.ndarray
    prediction: int
    model: str


class _Configured(Protocol):
    config: Mapping[str, Any]


def new_sample(x: np.ndarray, prediction: int, model: str) -> Sample:
    """A sample with a fresh random id for the network input ``x`` (784 values in [0, 1])."""
    pixels = preprocess.to_uint8(np.reshape(x, (SIDE, SIDE)))
    return Sample(os.urandom(_ID_BYTES).hex(), pixels, int(prediction), model)


def keys_of(app_or_config: _Configured | Mapping[str, Any]) -> list[Key]:
    """The secret keys of an app made by ``create_app`` (or of its config), newest first.

    ``SECRET_KEY`` is the newest; ``SECRET_KEY_FALLBACKS`` holds the older ones in Flask's order,
    oldest first.
    """
    config = app_or_config.config if hasattr(app_or_config, "config") else app_or_config
    return [config["SECRET_KEY"], *reversed(config.get("SECRET_KEY_FALLBACKS") or [])]


def sign(sample: Sample, keys: Sequence[Key]) -> str:
    """The token for ``sample``, issued now, signed with the newest of ``keys`` (newest first)."""
    return _signer(keys).sign(_b64(_payload(sample))).decode("ascii")


def verify(token: object, keys: Sequence[Key], max_age: float) -> Sample:
    """The sample in ``token`` if one of ``keys`` signed exactly it at most ``max_age`` seconds ago.

    Raises ``ExpiredSample`` for an older token and ``InvalidSample`` for anything else amiss.
    """
    signer = _signer(keys)
    # Only the one spelling sign() writes, and nothing long, reaches the signature check. The
    # signature part is checked for its exact spelling because itsdangerous compares it decoded.
    if (
        not isinstance(token, str)
        or len(token) > MAX_TOKEN_CHARS
        or not _TOKEN.fullmatch(token)
        or not _is_canonical(token.rsplit(".", 1)[1])
    ):
        raise InvalidSample(_NOT_A_TOKEN)
    try:
        encoded, signed_at = signer.unsign(token, return_timestamp=True)
    except BadSignature:
        raise InvalidSample(_ALTERED) from None
    _check_age(signer.get_timestamp() - int(signed_at.timestamp()), max_age)
    return _sample(_unb64(encoded.decode("ascii")))


def _signer(keys: Sequence[Key]) -> TimestampSigner:
    if isinstance(keys, str | bytes) or not keys:
        raise TypeError("keys must be a non-empty sequence of secret keys, newest first")
    # itsdangerous takes its keys oldest first: it signs with the last and tries the newest first.
    return TimestampSigner(list(reversed(keys)), salt=_SALT, key_derivation="hmac", digest_method=hashlib.sha256)


def _check_age(age: int, max_age: float) -> None:
    if age > max_age:
        raise ExpiredSample(
            f"the sample token was issued {_duration(age)} ago and tokens are accepted for {_duration(max_age)}; "
            "read the digit again and send feedback with the new token"
        )
    if age < -FUTURE_LEEWAY:
        raise InvalidSample(
            f"the sample token is dated {_duration(-age)} in the future: this server's clock or the clock of the "
            "server that signed it is wrong; correct it, then read the digit again"
        )


def _duration(seconds: float) -> str:
    """``seconds`` in the largest whole unit that fits, for messages: "3 days", "1 hour", "40 seconds"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    count = int(seconds)
    return f"{count} second{'s' if count != 1 else ''}"


def _payload(sample: Sample) -> bytes:
    name = sample.model.encode("utf-8")
    if len(name) > 255:
        raise ValueError("model names are at most 255 bytes")
    if not 0 <= sample.prediction < CLASSES:
        raise ValueError(f"a prediction is a digit, not {sample.prediction}")
    if np.shape(sample.pixels) != (SIDE, SIDE):
        raise ValueError(f"a sample's pixels are {SIDE}x{SIDE}, not {np.shape(sample.pixels)}")
    sample_id = bytes.fromhex(sample.sample_id)
    if len(sample_id) != _ID_BYTES:
        raise ValueError(f"a sample id is {_ID_BYTES} bytes")
    return (
        bytes([VERSION])
        + sample_id
        + bytes([sample.prediction, len(name)])
        + name
        + np.asarray(sample.pixels).astype(np.uint8).tobytes()
    )


def _sample(payload: bytes | None) -> Sample:
    # Signed by a key of this server, so well formed; checked anyway, as a key could be shared by mistake.
    malformed = InvalidSample("the sample token is malformed; read the digit again for a new token")
    if payload is None or len(payload) < _HEAD:
        raise malformed
    if payload[0] != VERSION:
        raise InvalidSample("the sample token is of an unknown version; read the digit again for a new token")
    prediction, name_length = payload[_HEAD - 2], payload[_HEAD - 1]
    if len(payload) != _HEAD + name_length + PIXELS or prediction >= CLASSES:
        raise malformed
    pixels = np.frombuffer(payload, dtype=np.uint8, offset=_HEAD + name_length).reshape(SIDE, SIDE)
    name = payload[_HEAD : _HEAD + name_length].decode("utf-8", errors="replace")
    return Sample(payload[1 : 1 + _ID_BYTES].hex(), pixels.copy(), prediction, name)


def _b64(data: bytes) -> str:
    return base64_encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64_decode(text)
    except BadData:
        return None


def _is_canonical(text: str) -> bool:
    """Whether ``text`` is the one spelling ``_b64`` gives its bytes (no stray low bits)."""
    data = _unb64(text)
    return data is not None and _b64(data) == text
