"""Sample tokens (app/samples.py): only what this server signed, recently, comes back."""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import pytest
from itsdangerous import TimestampSigner

from app import samples
from model.shape import PIXELS, SIDE

KEY = "k" * 32
OLD_KEY = b"an older key, rotated out"
OTHER_KEY = "some other server's key"
DAY = 24 * 60 * 60
NOW = 1_750_000_000


@pytest.fixture
def clock(monkeypatch):
    """The signing clock, frozen at ``NOW`` through itsdangerous' own hook; set ``clock.now`` to move it."""

    class Clock:
        now = NOW

    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: Clock.now)
    return Clock


def a_sample(model: str = "digits", prediction: int = 7, seed: int = 0) -> samples.Sample:
    x = np.random.default_rng(seed).random(PIXELS)
    return samples.new_sample(x, prediction, model)


def test_sign_then_verify_gives_the_sample_back():
    sample = a_sample()
    token = samples.sign(sample, [KEY])
    back = samples.verify(token, [KEY], max_age=DAY)
    assert back.sample_id == sample.sample_id and len(back.sample_id) == 32
    assert back.prediction == 7 and back.model == "digits"
    np.testing.assert_array_equal(back.pixels, sample.pixels)
    assert back.pixels.shape == (SIDE, SIDE) and back.pixels.dtype == np.uint8


@pytest.mark.parametrize("model", ["digits", "", "é" * 127], ids=["digits", "empty-name", "longest-name"])
def test_a_token_is_about_as_long_as_the_payload_in_base64(model):
    token = samples.sign(a_sample(model), [KEY])
    payload_bytes = 1 + 16 + 2 + len(model.encode()) + PIXELS
    # base64 of the payload, then ".", a 6-character timestamp, "." and a 43-character HMAC-SHA256.
    assert len(token) == -(-payload_bytes * 4 // 3) + 1 + 6 + 1 + 43
    assert len(token) <= samples.MAX_TOKEN_CHARS
    assert samples.verify(token, [KEY], max_age=DAY).model == model


def test_new_sample_quantises_the_network_input_like_mnist():
    x = np.linspace(0, 1, PIXELS)
    sample = samples.new_sample(x, 3, "seed")
    np.testing.assert_array_equal(sample.pixels.ravel(), np.rint(x * 255).astype(np.uint8))
    assert samples.new_sample(x, 3, "seed").sample_id != sample.sample_id  # every reading its own id


def flip_payload_byte(token: str, index: int) -> str:
    payload, rest = token.split(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + rest


def replace_part(token: str, part: int, new: str) -> str:
    parts = token.split(".")
    parts[part] = new
    return ".".join(parts)


@pytest.mark.parametrize("index", [0, 1, 17, 18, 20, 100, -1], ids=lambda i: f"byte{i}")
def test_any_altered_payload_byte_is_refused(index):
    token = samples.sign(a_sample(), [KEY])
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(flip_payload_byte(token, index), [KEY], max_age=DAY)


def test_an_altered_issue_time_is_refused(clock):
    """Making an old token look new (or a new one old) breaks its signature."""
    clock.now = NOW - 2 * DAY
    old = samples.sign(a_sample(), [KEY])
    clock.now = NOW
    fresh_time = samples.sign(a_sample(), [KEY]).split(".")[1]
    assert fresh_time != old.split(".")[1]
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(replace_part(old, 1, fresh_time), [KEY], max_age=DAY)


def test_a_signature_from_another_token_is_refused():
    first, second = samples.sign(a_sample(seed=1), [KEY]), samples.sign(a_sample(seed=2), [KEY])
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(replace_part(first, 2, second.split(".")[2]), [KEY], max_age=DAY)


def test_a_token_signed_under_another_key_is_refused():
    token = samples.sign(a_sample(), [OTHER_KEY])
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(token, [KEY], max_age=DAY)


def test_a_plain_itsdangerous_signature_under_the_same_key_is_refused():
    """The salt keeps these tokens apart from anything else signed under the key (Flask's session, say)."""
    token = samples.sign(a_sample(), [KEY])
    payload = token.split(".")[0]
    elsewhere = TimestampSigner(KEY, digest_method=hashlib.sha256, key_derivation="hmac")
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(elsewhere.sign(payload).decode(), [KEY], max_age=DAY)


# -- key rotation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signed_with", "verify_with", "accepted"),
    [
        ([OLD_KEY], [KEY, OLD_KEY], True),  # signed before the rotation, still accepted after it
        ([KEY, OLD_KEY], [KEY], True),  # signed after it: the newest key signed
        ([KEY, OLD_KEY], [KEY, OLD_KEY], True),
        ([KEY, OLD_KEY], [OLD_KEY], False),  # ... not the older one
        ([OLD_KEY], [KEY], False),  # the old key dropped: its tokens are refused
        ([OLD_KEY, KEY], [KEY], False),  # newest first: here OLD_KEY is the newest and signs
        ([OLD_KEY, KEY], [OLD_KEY], True),
        ([KEY], [OTHER_KEY, OLD_KEY], False),
    ],
    ids=[
        "old-token-after-rotation",
        "new-token-new-key",
        "new-token-both-keys",
        "new-token-not-old-key",
        "old-key-dropped",
        "order-matters-1",
        "order-matters-2",
        "unknown-keys",
    ],
)
def test_key_rotation_newest_signs_any_verifies(signed_with, verify_with, accepted):
    sample = a_sample()
    token = samples.sign(sample, signed_with)
    if accepted:
        assert samples.verify(token, verify_with, max_age=DAY).sample_id == sample.sample_id
    else:
        with pytest.raises(samples.InvalidSample, match="signature does not match"):
            samples.verify(token, verify_with, max_age=DAY)


@pytest.mark.parametrize("keys", [KEY, KEY.encode(), [], ()], ids=["str", "bytes", "empty-list", "empty-tuple"])
def test_keys_must_be_a_non_empty_sequence(keys):
    """One bare key (a str is a sequence too) is a programming error, not a token problem."""
    with pytest.raises(TypeError, match="newest first"):
        samples.sign(a_sample(), keys)
    with pytest.raises(TypeError, match="newest first"):
        samples.verify("a.b.c", keys, max_age=DAY)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"SECRET_KEY": KEY}, [KEY]),
        ({"SECRET_KEY": KEY, "SECRET_KEY_FALLBACKS": None}, [KEY]),
        # Flask keeps fallbacks oldest first, as itsdangerous takes them.
        ({"SECRET_KEY": KEY, "SECRET_KEY_FALLBACKS": [OTHER_KEY, OLD_KEY]}, [KEY, OLD_KEY, OTHER_KEY]),
    ],
    ids=["one", "no-fallbacks", "fallbacks"],
)
def test_keys_of_a_config_are_newest_first(config, expected):
    assert samples.keys_of(config) == expected

    class App:
        pass

    app = App()
    app.config = config
    assert samples.keys_of(app) == expected


# -- expiry ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "outcome"),
    [
        (0, "accepted"),
        (DAY, "accepted"),  # exactly max_age old is still in time
        (DAY + 1, "3 days"),
        (-samples.FUTURE_LEEWAY, "accepted"),  # a slightly fast clock on the signing server
        (-samples.FUTURE_LEEWAY - 1, "future"),
    ],
    ids=["fresh", "at-max-age", "just-expired", "slightly-future", "far-future"],
)
def test_a_token_is_accepted_until_max_age(clock, age, outcome):
    sample = a_sample()
    clock.now = NOW - age
    token = samples.sign(sample, [KEY])
    clock.now = NOW
    if outcome == "accepted":
        assert samples.verify(token, [KEY], max_age=DAY).sample_id == sample.sample_id
    elif outcome == "future":
        with pytest.raises(samples.InvalidSample, match=r"in the future: .* clock") as info:
            samples.verify(token, [KEY], max_age=DAY)
        assert not isinstance(info.value, samples.ExpiredSample)
    else:
        expired = r"issued 1 day ago .* accepted for 1 day; read the digit again"
        with pytest.raises(samples.ExpiredSample, match=expired):
            samples.verify(token, [KEY], max_age=DAY)
        with pytest.raises(samples.ExpiredSample, match="accepted for 3 hours"):
            samples.verify(token, [KEY], max_age=3 * 3600)
        assert samples.verify(token, [KEY], max_age=2 * DAY).sample_id == sample.sample_id


def test_an_expired_sample_is_an_invalid_sample():
    """Callers that only catch InvalidSample refuse expired tokens too."""
    assert issubclass(samples.ExpiredSample, samples.InvalidSample)


def test_a_forged_token_is_refused_as_forged_even_when_old(clock):
    clock.now = NOW - 10 * DAY
    token = samples.sign(a_sample(), [OTHER_KEY])
    clock.now = NOW
    with pytest.raises(samples.InvalidSample, match="signature does not match") as info:
        samples.verify(token, [KEY], max_age=DAY)
    assert not isinstance(info.value, samples.ExpiredSample)


# -- what is refused before any work ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        None,
        7,
        ["a.b.c"],
        b"a.b.c",
        "",
        "no-dot",
        "a.b",
        "a.b.c.d",
        "%%%.%%%.%%%",
        "x" * 5000 + ".y.z",
        "abc.def.ghi",
    ],
    ids=["none", "int", "list", "bytes", "empty", "no-dot", "one-dot", "three-dots", "not-base64", "huge", "short"],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(samples.InvalidSample):
        samples.verify(token, [KEY], max_age=DAY)


def test_the_old_token_format_is_refused():
    """Version 1 tokens (``<payload>.<signature>``, no issue time) no longer verify."""
    token = samples.sign(a_sample(), [KEY])
    payload, _, signature = token.split(".")
    with pytest.raises(samples.InvalidSample, match="not a sample token from this server"):
        samples.verify(f"{payload}.{signature}", [KEY], max_age=DAY)


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def with_unused_bits_set(token: str) -> str:
    """The last character of a 32-byte signature carries 2 unused bits: flip one, same bytes."""
    return token[:-1] + BASE64URL[BASE64URL.index(token[-1]) ^ 1]


@pytest.mark.parametrize(
    "respell",
    [
        lambda t: t + "=",
        lambda t: t.replace(".", "=.", 1),
        lambda t: t[:40] + "\n" + t[40:],
        lambda t: t[:40] + " " + t[40:],
        lambda t: t[:40] + "!!$$" + t[40:],
        lambda t: t.replace("-", "+").replace("_", "/"),
        lambda t: with_unused_bits_set(t),
    ],
    ids=["padding", "inner-padding", "newline", "space", "junk", "standard-alphabet", "unused-bits"],
)
def test_only_the_exact_spelling_of_a_token_is_accepted(respell):
    """The same bytes spelled differently (lenient base64 would decode them alike) are refused."""
    token, seed = samples.sign(a_sample(), [KEY]), 0
    while "-" not in token and "_" not in token:  # the alphabet case needs one of them
        seed += 1
        token = samples.sign(a_sample(seed=seed), [KEY])
    changed = respell(token)
    assert changed != token
    with pytest.raises(samples.InvalidSample, match="not a sample token"):
        samples.verify(changed, [KEY], max_age=DAY)


def test_the_unused_bits_really_decode_alike():
    """The unused-bits respelling above is the same signature bytes: refused for its spelling alone."""
    signature = samples.sign(a_sample(), [KEY]).rsplit(".", 1)[1]
    respelled = with_unused_bits_set(signature)

    def decode(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    assert respelled != signature and decode(respelled) == decode(signature)
