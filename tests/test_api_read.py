"""``POST /api/read`` (app/api.py): a whole number read, through the Flask test client.

The same inputs, limits, rate limit and errors as ``/predict``, and one error of its own; the
reading of each digit agrees with ``/predict``'s of that digit alone. How well numbers are read is
measured in tests/test_read_number.py, the splitting in tests/test_segment.py.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app import create_app
from app.errors import BY_CODE
from model.segment import MAX_DIGITS
from tests.support.canvas import drawn_digit, strokes
from tests.support.requests import FORMS, post_raw

TILE = 280  # drawn_digit's side: the page's pad


def number(text: str, *, gap: int = 0, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """``text`` (digits among 1, 7 and 0) drawn as the page draws each digit, side by side in tiles of
    ``TILE`` px with ``gap`` white px between them."""
    width = len(text) * TILE + (len(text) - 1) * gap
    image = Image.new("RGB", (width, TILE), "white")
    for k, digit in enumerate(text):
        image.paste(Image.open(io.BytesIO(drawn_digit(digit))), (k * (TILE + gap), 0))
    out = io.BytesIO()
    image.convert(mode).save(out, format=fmt)
    return out.getvalue()


def blank_page() -> bytes:
    out = io.BytesIO()
    Image.new("L", (300, 200), 255).save(out, format="PNG")
    return out.getvalue()


def test_a_number_is_read_left_to_right_with_a_box_per_digit(client):
    response = post_raw(client, number("170"), url="/api/read")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == ["text", "digits", "model"]
    assert body["text"] == "170" and body["model"] == "digits"
    assert [d["label"] for d in body["digits"]] == [1, 7, 0]
    for k, digit in enumerate(body["digits"]):
        assert list(digit) == ["label", "confidence", "box"]
        assert 0 < digit["confidence"] <= 1
        x0, y0, x1, y1 = digit["box"]
        # Each box holds its own digit's ink: inside that digit's tile, and most of the tile's height.
        assert k * TILE <= x0 < x1 <= (k + 1) * TILE, digit
        assert 0 <= y0 < y1 <= TILE and y1 - y0 > TILE / 2, digit


@pytest.mark.parametrize("post", FORMS, ids=lambda f: f.__name__)
def test_every_input_form_reads_the_same(client, post):
    expected = post_raw(client, number("71"), url="/api/read").get_json()
    response = post(client, number("71"), url="/api/read")
    assert response.status_code == 200
    assert response.get_json() == expected and expected["text"] == "71"


@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_one_digit_reads_as_predict_reads_it(client, digit):
    alone = post_raw(client, drawn_digit(digit))
    response = post_raw(client, drawn_digit(digit), url="/api/read")
    assert response.status_code == alone.status_code == 200
    body = response.get_json()
    assert body["text"] == digit == str(alone.get_json()["label"])
    assert body["digits"][0]["confidence"] == pytest.approx(alone.get_json()["confidence"], abs=1e-3)


def test_boxes_are_in_the_posted_images_pixels(client):
    """A JPEG of the number four times the size: the boxes scale with it, even where the decoder or the
    preprocessing works on a reduced image."""
    small = post_raw(client, number("17", gap=40), url="/api/read").get_json()
    image = Image.open(io.BytesIO(number("17", gap=40)))
    out = io.BytesIO()
    image.resize((image.width * 4, image.height * 4)).save(out, format="JPEG", quality=90)
    large = post_raw(client, out.getvalue(), "image/jpeg", url="/api/read")
    assert large.status_code == 200
    assert large.get_json()["text"] == small["text"] == "17"
    for a, b in zip(small["digits"], large.get_json()["digits"]):
        assert [v / 4 for v in b["box"]] == pytest.approx(a["box"], abs=6)


def test_the_model_can_be_chosen(client):
    response = post_raw(client, number("70"), url="/api/read?model=seed")
    assert response.status_code == 200
    assert response.get_json()["model"] == "seed"
    assert len(response.get_json()["digits"]) == 2


def test_up_to_the_limit_is_read_and_one_more_is_refused(client):
    at_limit = post_raw(client, strokes(MAX_DIGITS), url="/api/read")
    assert at_limit.status_code == 200
    assert len(at_limit.get_json()["digits"]) == MAX_DIGITS
    over = post_raw(client, strokes(MAX_DIGITS + 1), url="/api/read")
    assert over.status_code == BY_CODE["too_many_digits"].status == 422
    error = over.get_json()["error"]
    assert error["code"] == "too_many_digits" and str(MAX_DIGITS) in error["message"]


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (lambda c: post_raw(c, b"not an image", url="/api/read"), 400, "invalid_image"),
        (lambda c: c.post("/api/read", json={"image": "%%%"}), 400, "invalid_base64"),
        (lambda c: post_raw(c, drawn_digit(), url="/api/read?model=nope"), 400, "unknown_model"),
        (lambda c: c.get("/api/read"), 405, "method_not_allowed"),
        (lambda c: post_raw(c, b"hello", "text/plain", url="/api/read"), 415, "unsupported_media_type"),
        (lambda c: post_raw(c, number("1", fmt="PNG").replace(b"IHDR", b"IHDX"), url="/api/read"), 400, None),
        (lambda c: post_raw(c, blank_page(), url="/api/read"), 422, "no_digit"),
    ],
    ids=["garbage", "base64", "model", "get", "text", "corrupt", "blank"],
)
def test_bad_input_gets_the_errors_predict_gives(client, send, status, code):
    response = send(client)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code


def test_too_large_is_refused_before_reading(tmp_path):
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "MAX_BYTES": 1000})
    response = post_raw(app.test_client(), number("17"), url="/api/read")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_it_spends_the_predict_budget(tmp_path):
    limited = create_app(
        {"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "RATE_LIMITS": "predict=2/minute"}
    ).test_client()
    assert post_raw(limited, drawn_digit("7")).status_code == 200
    assert post_raw(limited, number("17"), url="/api/read").status_code == 200
    refused = post_raw(limited, number("17"), url="/api/read")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert post_raw(limited, drawn_digit("7")).status_code == 429  # one budget for both
