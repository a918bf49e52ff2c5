"""Sample tokens (app/samples.py): only what this server signed comes back."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from app import samples

KEY = b"k" * 32


def a_sample(model: str = "digits", prediction: int = 7) -> samples.Sample:
    x = np.random.default_rng(0).random(784)
    return samples.new_sample(x, prediction, model)


def test_sign_then_verify_gives_the_sample_back():
    sample = a_sample()
    token = samples.sign(sample, KEY)
    back = samples.verify(token, KEY)
    assert back.sample_id == sample.sample_id and len(back.sample_id) == 32
    assert back.prediction == 7 and back.model == "digits"
    np.testing.assert_array_equal(back.pixels, sample.pixels)
    assert back.pixels.shape == (28, 28) and back.pixels.dtype == np.uint8
    assert len(token) <= samples.MAX_TOKEN_CHARS


def test_new_sample_quantises_the_network_input_like_mnist():
    x = np.linspace(0, 1, 784)
    sample = samples.new_sample(x, 3, "seed")
    np.testing.assert_array_equal(sample.pixels.ravel(), np.rint(x * 255).astype(np.uint8))
    assert samples.new_sample(x, 3, "seed").sample_id != sample.sample_id  # every reading its own id


def flip_payload_byte(token: str, index: int) -> str:
    payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + signature


@pytest.mark.parametrize("index", [0, 1, 17, 18, 20, 100, -1], ids=lambda i: f"byte{i}")
def test_any_altered_byte_is_refused(index):
    token = samples.sign(a_sample(), KEY)
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(flip_payload_byte(token, index), KEY)


def test_a_token_signed_under_another_key_is_refused():
    token = samples.sign(a_sample(), b"another key")
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(token, KEY)


@pytest.mark.parametrize(
    "token",
    [None, 7, ["a.b"], "", "no-dot", "a.b.c", "%%%.%%%", "x" * 5000 + "." + "y", "abc.def"],
    ids=["none", "int", "list", "empty", "no-dot", "two-dots", "not-base64", "huge", "short"],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(samples.InvalidSample):
        samples.verify(token, KEY)


@pytest.mark.parametrize(
    "respell",
    [
        lambda t: t + "=",
        lambda t: t.replace(".", "=.", 1),
        lambda t: t[:40] + "\n" + t[40:],
        lambda t: t[:40] + " " + t[40:],
        lambda t: t[:40] + "!!$$" + t[40:],
        lambda t: t.replace("-", "+").replace("_", "/"),
    ],
    ids=["padding", "inner-padding", "newline", "space", "junk", "standard-alphabet"],
)
def test_only_the_exact_spelling_of_a_token_is_accepted(respell):
    """The same bytes spelled differently (lenient base64 would decode them alike) are refused."""
    token = samples.sign(a_sample(), KEY)
    while "-" not in token and "_" not in token:  # the alphabet case needs one of them
        token = samples.sign(a_sample(), KEY)
    changed = respell(token)
    assert changed != token
    with pytest.raises(samples.InvalidSample, match="not a sample token"):
        samples.verify(changed, KEY)
