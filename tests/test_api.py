"""The JSON API through the Flask test client: every input form, every error."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from app.explain import DECIMALS
from model.predict import read_digit
from model.preprocess import Limits
from tests.support.canvas import drawn_digit, pen_mark
from tests.support.requests import FORMS, data_url, post_multipart, post_raw


def check_answer(response, label: int | None = None, model: str = "digits") -> dict:
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["label", "confidence", "probabilities", "model", "input", "sample"]  # the README's order
    assert len(body["probabilities"]) == 10
    assert all(round(p, DECIMALS) == p for p in [body["confidence"], *body["probabilities"]])
    assert sum(body["probabilities"]) == pytest.approx(1, abs=10 * 0.5 * 10**-DECIMALS)
    assert body["label"] == int(np.argmax(body["probabilities"]))
    assert body["confidence"] == max(body["probabilities"])
    assert body["model"] == model
    assert body["input"].startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(body["input"].split(",", 1)[1]))) as seen:
        assert seen.size == (28, 28) and seen.mode == "L"
    if label is not None:
        assert body["label"] == label
    return body


# -- the input forms (tests.support.requests.FORMS) ------------------------------------------------


@pytest.mark.parametrize("post", FORMS)
@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_each_input_form_reads_a_drawn_digit(client, post, digit):
    check_answer(post(client, drawn_digit(digit)), label=int(digit))


@pytest.mark.parametrize("size", [200, 400, 1000])
def test_a_one_is_read_on_any_size_of_pad(client, size):
    """A single stroke, the 1, is a digit however large the pad (and so the pen)."""
    check_answer(post_raw(client, drawn_digit("1", size=size)), label=1)


@pytest.mark.parametrize("url", ["/predict", "/api/explain"])
@pytest.mark.parametrize("post", FORMS)
@pytest.mark.parametrize(
    ("canvas", "pens", "transparent"),
    [(280, 0, True), (280, 0.5, False), (1000, 0, False)],
    ids=["tap", "short dash", "tap on a large pad"],
)
def test_a_tap_or_a_short_dash_is_not_a_digit(client, post, url, canvas, pens, transparent):
    pen = canvas / 13  # the page's pen
    response = post(client, pen_mark(canvas, pen, pens * pen, transparent=transparent), url=url)
    body = expect_error(response, 422, "no_digit")
    assert "looks like a dot or a dash" in body["error"]["message"]


def test_the_reading_is_rounded_to_4_decimals(app, client):
    """The answer is model.predict.read_digit's reading of the same bytes, each number rounded."""
    png = drawn_digit("7")
    reading = read_digit(app.extensions["digits.models"]["digits"].network, png)
    body = check_answer(post_raw(client, png), label=reading.label)
    assert body["probabilities"] == [round(p, 4) for p in reading.probabilities.tolist()]
    assert body["confidence"] == round(reading.confidence, 4)
    assert min(reading.probabilities) < 1e-5 and 0.0 in body["probabilities"]  # 1.8e-06 and the like read as 0


@pytest.mark.parametrize("post", FORMS)
def test_model_parameter_chooses_the_network(client, post):
    check_answer(post(client, drawn_digit("1"), url="/predict?model=seed"), model="seed")


def test_the_answer_is_the_networks_own(app, client):
    """The label and probabilities are predict_proba of the image the answer says was seen."""
    body = check_answer(post_raw(client, drawn_digit("7")))
    with Image.open(io.BytesIO(base64.b64decode(body["input"].split(",", 1)[1]))) as seen:
        x = np.asarray(seen, dtype=np.float32).reshape(784, 1) / 255
    network = app.extensions["digits.models"]["digits"].network
    np.testing.assert_allclose(network.predict_proba(x)[:, 0], body["probabilities"], atol=0.02)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def digit_image() -> Image.Image:
    return Image.open(io.BytesIO(drawn_digit("7")))


def animated_gif() -> bytes:
    first = digit_image().convert("P")
    blank = Image.new("P", first.size, 255)
    return encode(first, "GIF", save_all=True, append_images=[blank], duration=100, loop=0)


def sixteen_bit_png() -> bytes:
    grey = np.asarray(digit_image().convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(grey.astype(np.uint16)), "PNG")


def rgba_canvas() -> bytes:
    """What a browser canvas sends: transparent (0, 0, 0, 0) background, opaque dark ink."""
    grey = np.asarray(digit_image().convert("L"))
    rgba = np.zeros((*grey.shape, 4), np.uint8)
    rgba[..., 3] = 255 - grey
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


@pytest.mark.parametrize(
    ("name", "make", "mime"),
    [
        ("PNG", lambda: encode(digit_image(), "PNG"), "image/png"),
        ("JPEG", lambda: encode(digit_image(), "JPEG", quality=85), "image/jpeg"),
        ("GIF", lambda: encode(digit_image().convert("P"), "GIF"), "image/gif"),
        ("BMP", lambda: encode(digit_image(), "BMP"), "image/bmp"),
        ("WebP", lambda: encode(digit_image(), "WEBP"), "image/webp"),
        ("animated GIF", animated_gif, "image/gif"),
        ("16-bit PNG", sixteen_bit_png, "image/png"),
        ("CMYK JPEG", lambda: encode(digit_image().convert("CMYK"), "JPEG"), "image/jpeg"),
        ("1-bit PNG", lambda: encode(digit_image().convert("1"), "PNG"), "image/png"),
        ("RGBA canvas", rgba_canvas, "image/png"),
        ("JPEG sent as image/png", lambda: encode(digit_image(), "JPEG"), "image/png"),
    ],
)
def test_accepted_formats_and_modes(client, name, make, mime):
    check_answer(post_raw(client, make(), mime), label=7)


# -- errors -------------------------------------------------------------------------------------------


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` 1-bit pixels, with a tiny compressed body."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * min(height, 64), 9)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def blank_canvas() -> bytes:
    return encode(Image.new("RGBA", (280, 280), (0, 0, 0, 0)), "PNG")


def truncated_png() -> bytes:
    data = drawn_digit("1")
    return data[: len(data) // 2]


def expect_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"] and list(body["error"]) == ["code", "message"]
    assert body["error"]["code"] == code
    assert len(body["error"]["message"]) > 10
    return body


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (lambda c: post_raw(c, b"this is not an image at all"), 400, "invalid_image"),
        (lambda c: post_raw(c, truncated_png()), 400, "invalid_image"),
        (lambda c: post_raw(c, b""), 400, "invalid_image"),
        (lambda c: post_raw(c, encode(digit_image(), "TIFF"), "image/png"), 400, "invalid_image"),
        (lambda c: c.post("/predict", data=b"{not json", content_type="application/json"), 400, "invalid_json"),
        (lambda c: c.post("/predict", json=[1, 2, 3]), 400, "invalid_json"),
        (lambda c: c.post("/predict", data="[" * 100_000, content_type="application/json"), 400, "invalid_json"),
        (lambda c: c.post("/predict", json={"picture": "x"}), 400, "missing_field"),
        (lambda c: c.post("/predict", json={"image": 42}), 400, "invalid_field"),
        (lambda c: c.post("/predict", json={"image": "%%%not base64%%%"}), 400, "invalid_base64"),
        (lambda c: c.post("/predict", json={"image": "data:image/png,rawtext"}), 400, "invalid_data_url"),
        (lambda c: c.post("/predict", json={"image": "data:image/png;base64,@@@"}), 400, "invalid_base64"),
        (
            lambda c: c.post("/predict", json={"image": data_url(b"<svg/>", "image/svg+xml")}),
            415,
            "unsupported_media_type",
        ),
        (lambda c: c.post("/predict", json={"image": data_url(b"hello", "text/plain")}), 415, "unsupported_media_type"),
        (lambda c: c.post("/predict", data={"other": "x"}, content_type="multipart/form-data"), 400, "missing_field"),
        (
            lambda c: c.post(
                "/predict",
                data={"image": [(io.BytesIO(drawn_digit()), "a.png"), (io.BytesIO(drawn_digit()), "b.png")]},
                content_type="multipart/form-data",
            ),
            400,
            "too_many_files",
        ),
        (lambda c: post_multipart(c, b"<html></html>", "x.html", "text/html"), 415, "unsupported_media_type"),
        (lambda c: post_raw(c, b"hello", "text/plain"), 415, "unsupported_media_type"),
        (lambda c: post_raw(c, b"<svg/>", "image/svg+xml"), 415, "unsupported_media_type"),
        (lambda c: post_raw(c, encode(digit_image(), "TIFF"), "image/tiff"), 415, "unsupported_media_type"),
        (lambda c: c.post("/predict", data=drawn_digit()), 415, "unsupported_media_type"),
        (lambda c: post_raw(c, png_bomb(100_000, 100_000)), 413, "too_large"),
        (lambda c: post_raw(c, png_bomb(60_000, 2)), 413, "too_large"),
        (lambda c: post_raw(c, b"\x00" * (2 * Limits().max_bytes)), 413, "too_large"),
        (
            lambda c: c.post("/predict", json={"image": base64.b64encode(b"\x00" * (Limits().max_bytes + 1)).decode()}),
            413,
            "too_large",
        ),
        (lambda c: post_raw(c, blank_canvas()), 422, "no_digit"),
        (lambda c: post_raw(c, encode(Image.new("L", (280, 280), 255), "PNG")), 422, "no_digit"),
        (lambda c: post_raw(c, drawn_digit(), url="/predict?model=nope"), 400, "unknown_model"),
        (lambda c: c.get("/predict"), 405, "method_not_allowed"),
        (lambda c: c.get("/no/such/page"), 404, "not_found"),
        (lambda c: c.put("/api/models"), 405, "method_not_allowed"),
    ],
)
def test_bad_input_gets_a_clear_json_error(client, send, status, code):
    expect_error(send(client), status, code)


def test_errors_never_echo_the_upload(client):
    secret = "SECRETSECRET"
    for response in (
        client.post("/predict", json={"image": f"%{secret}%"}),
        post_raw(client, secret.encode() * 10),
        client.post("/predict", json={"image": f"data:{secret}/x;base64,AAAA"}),
    ):
        assert response.status_code in (400, 415)
        assert secret not in response.get_data(as_text=True)


def test_method_not_allowed_names_the_allowed_methods(client):
    response = client.get("/predict")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


# -- models and health ------------------------------------------------------------------------------


def test_models_are_described(client):
    response = client.get("/api/models")
    assert response.status_code == 200
    body = response.get_json()
    assert body["default"] == "digits"
    by_name = {m["name"]: m for m in body["models"]}
    assert list(by_name) == ["digits", "seed"]
    assert by_name["seed"]["sizes"] == [784, 15, 10]
    assert by_name["seed"]["parameters"] == 784 * 15 + 15 + 15 * 10 + 10
    assert by_name["digits"]["test_accuracy"] >= 0.992
    assert all(m["trained"] and m["activation"] and m["cost"] for m in body["models"])


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "models": ["digits", "seed"]}


# -- /predict?explain=1: the page's one request when the inside-the-network panel is open ------------


@pytest.mark.parametrize("value", ["1", "true", "TRUE"])
def test_predict_with_explain_carries_the_inside_of_the_network(client, value):
    png = drawn_digit("7")
    response = post_raw(client, png, url=f"/predict?explain={value}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == ["label", "confidence", "probabilities", "model", "input", "sample", "layers", "units"]
    assert body["label"] == 7
    assert body["input"].startswith("data:image/png;base64,") and body["sample"]
    explained = post_raw(client, png, url="/api/explain")
    assert explained.status_code == 200
    expected = explained.get_json()
    assert body["layers"] == expected["layers"]
    assert body["units"] == expected["units"]
    assert [body[k] for k in ("label", "confidence", "probabilities")] == [
        expected[k] for k in ("label", "confidence", "probabilities")
    ]


@pytest.mark.parametrize("url", ["/predict", "/predict?explain=0", "/predict?explain=false"])
def test_predict_without_explain_has_no_layers(client, url):
    body = check_answer(post_raw(client, drawn_digit("0"), url=url), label=0)
    assert "layers" not in body and "units" not in body


@pytest.mark.parametrize("value", ["yes", "2", ""])
def test_predict_with_a_bad_explain_value_is_refused(client, value):
    expect_error(post_raw(client, drawn_digit("7"), url=f"/predict?explain={value}"), 400, "invalid_parameter")
