"""Inside the network (app/explain.py and POST /api/explain)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from app.explain import DECIMALS, TOP_UNITS, explain, weight_picture
from model.network import Network
from tests.support.canvas import drawn_digit
from tests.support.requests import FORMS, post_raw

HALF_LAST_PLACE = 0.5 * 10**-DECIMALS  # the most a number rounded to DECIMALS places moves


def picture(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))) as image:
        assert image.size == (28, 28) and image.mode == "RGB"
        return np.asarray(image)


def test_weight_picture_is_orange_for_excitation_blue_for_inhibition_white_for_nothing():
    w = np.zeros(784)
    w[0], w[1], w[2] = 2.0, -2.0, 1.0
    rgb = picture(weight_picture(w)).reshape(784, 3)
    assert tuple(rgb[0]) == (230, 115, 0)
    assert tuple(rgb[1]) == (25, 95, 210)
    assert tuple(rgb[3]) == (255, 255, 255)
    assert tuple(rgb[2]) == (242, 185, 128)  # half the largest weight: half way to orange
    assert (picture(weight_picture(np.zeros(784))) == 255).all()


@pytest.mark.parametrize(("hidden", "shown"), [([15], 15), ([100, 20], TOP_UNITS)])
def test_explain_gives_every_hidden_layer_and_the_most_active_units(hidden, shown):
    network = Network([784, *hidden, 10], activation="relu", cost="cross-entropy", seed=3)
    x = np.random.default_rng(3).random(784).astype(np.float32)
    answer = explain(network, x)
    activations = network.activations(x.reshape(-1, 1))
    assert [layer["size"] for layer in answer["layers"]] == hidden
    for layer, a in zip(answer["layers"], activations):
        np.testing.assert_allclose(layer["values"], a[:, 0], rtol=0, atol=HALF_LAST_PLACE)
        assert layer["max"] == pytest.approx(a.max(), rel=0, abs=HALF_LAST_PLACE)
        assert all(round(v, DECIMALS) == v for v in [*layer["values"], layer["max"]])
    units = answer["units"]
    assert (units["layer"], units["shown"], units["of"]) == (1, shown, hidden[0])
    first = activations[0][:, 0]
    expected = np.argsort(-first, kind="stable")[:shown]
    assert [item["unit"] for item in units["items"]] == expected.tolist()
    excitation = [item["excitation"] for item in units["items"]]
    assert excitation[0] == 1.0 and excitation == sorted(excitation, reverse=True) and min(excitation) >= 0
    for item in units["items"][:3]:
        w = network.weights[0][item["unit"]]
        # The unit's weight of largest size is drawn in the full colour of its sign.
        strongest = np.abs(w).argmax()
        full = (230, 115, 0) if w[strongest] > 0 else (25, 95, 210)
        assert tuple(picture(item["weights"]).reshape(784, 3)[strongest]) == full


@pytest.mark.parametrize("post", FORMS)
@pytest.mark.parametrize(("model", "layers", "shown"), [("digits", [800, 800], 32), ("seed", [15], 15)])
def test_explain_endpoint_in_every_input_form(client, post, model, layers, shown):
    response = post(client, drawn_digit("7"), url=f"/api/explain?model={model}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == ["label", "confidence", "probabilities", "model", "layers", "units"]
    assert body["model"] == model and body["label"] == 7
    assert body["confidence"] == max(body["probabilities"])
    assert sum(body["probabilities"]) == pytest.approx(1, abs=10 * HALF_LAST_PLACE)
    assert [layer["size"] for layer in body["layers"]] == layers
    assert [len(layer["values"]) for layer in body["layers"]] == layers
    assert body["units"]["shown"] == len(body["units"]["items"]) == shown


def test_explain_agrees_with_predict(client):
    predicted = post_raw(client, drawn_digit("0"))
    explained = post_raw(client, drawn_digit("0"), url="/api/explain")
    assert (predicted.status_code, explained.status_code) == (200, 200)
    predicted, explained = predicted.get_json(), explained.get_json()
    assert explained["label"] == predicted["label"]
    np.testing.assert_allclose(explained["probabilities"], predicted["probabilities"])


@pytest.mark.parametrize(
    ("body", "mime", "status", "code"),
    [
        (b"not an image", "image/png", 400, "invalid_image"),
        (b"", "text/plain", 415, "unsupported_media_type"),
        (drawn_digit("7", mode="L")[:100], "image/png", 400, "invalid_image"),
    ],
    ids=["garbage", "text", "truncated"],
)
def test_explain_errors_are_predicts(client, body, mime, status, code):
    response = client.post("/api/explain", data=body, content_type=mime)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_explain_of_a_blank_canvas_is_422(client):
    blank = io.BytesIO()
    Image.new("RGB", (280, 280), "white").save(blank, "PNG")
    response = client.post("/api/explain", data=blank.getvalue(), content_type="image/png")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "no_digit"
