"""Faithful end to end: MNIST digits drawn as a browser canvas sends them, through a real gunicorn.

1,000 test digits, enlarged to 280x280, off-centre on a 400x400 canvas, dark ink on white (a
quarter of them RGBA on a transparent background), are posted through each input form; every
one must be read (none refused), and the answers must be within 1 percentage point of the
network's accuracy on the original 28x28 images. A tap or a short dash, posted the same ways,
is refused: 422 ``no_digit``.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from model import data
from model.network import Network
from tests.support.canvas import pen_mark, render_like_canvas
from tests.support.paths import ROOT
from tests.support.server import Server, gunicorn

COUNT = 1000


def multipart(png: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="digit.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


FORMS = {
    "multipart": multipart,
    "raw": lambda png: (png, "image/png"),
    "json": lambda png: (
        json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode()}).encode(),
        "application/json",
    ),
}


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    """POST ``body`` to ``url``: (status, JSON answer), error statuses included."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def server():
    """One gunicorn for the module, stopped after it."""
    with gunicorn(workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def renderings(mnist_dir):
    _, test = data.load(mnist_dir)
    rng = np.random.default_rng(7)
    picks = rng.choice(len(test), COUNT, replace=False)
    pngs = [render_like_canvas(test.images[i], rng, transparent=k % 4 == 0) for k, i in enumerate(picks)]
    return test.images[picks], test.labels[picks], pngs


@pytest.mark.mnist
def test_canvas_renderings_through_gunicorn_match_the_originals(server: Server, renderings):
    images, labels, pngs = renderings
    network = Network.load(ROOT / "model" / "digits.npz")
    original = float(np.mean(network.predict(data.to_columns(images)) == labels))

    accuracies = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for form, encode in FORMS.items():
            bodies = [encode(png) for png in pngs]
            answers = list(pool.map(lambda b: post(server.url + "/predict", *b), bodies))
            refused = [(k, answer) for k, (status, answer) in enumerate(answers) if status != 200]
            assert not refused, f"{form}: {len(refused)} not read, the first: {refused[0]}"
            accuracies[form] = float(np.mean(np.array([answer["label"] for _, answer in answers]) == labels))
    report = f"28x28 originals {original:.2%}; " + ", ".join(f"{f} {a:.2%}" for f, a in accuracies.items())
    assert all(abs(accuracy - original) <= 0.01 for accuracy in accuracies.values()), report
    print(report)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("canvas", "pens", "transparent"),
    [(280, 0, True), (400, 0.5, False), (1000, 0.5, True)],
    ids=["a tap on a 280 px pad", "a dash 1.5 pens long on a 400 px pad", "the same on a 1000 px pad"],
)
def test_a_tap_through_gunicorn_is_not_a_digit(server: Server, form: str, canvas: int, pens: float, transparent: bool):
    pen = canvas / 13  # the page's pen
    mark = pen_mark(canvas, pen, pens * pen, angle=0.5, transparent=transparent)
    status, answer = post(server.url + "/predict", *FORMS[form](mark))
    assert status == 422, answer
    assert answer["error"]["code"] == "no_digit"
    assert "looks like a dot or a dash" in answer["error"]["message"]
