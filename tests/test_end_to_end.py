"""Faithful end to end: MNIST digits drawn as a browser canvas sends them, through a real gunicorn.

1,000 test digits, enlarged to 280x280, off-centre on a 400x400 canvas, dark ink on white (a
quarter of them RGBA on a transparent background), are posted through each input form; the
answers must be within 1 percentage point of the network's accuracy on the original 28x28
images.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from model import data
from model.network import Network
from tests.support.canvas import render_like_canvas
from tests.support.paths import ROOT
from tests.support.server import gunicorn

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


@pytest.fixture(scope="module")
def renderings(mnist_dir):
    _, test = data.load(mnist_dir)
    rng = np.random.default_rng(7)
    picks = rng.choice(len(test), COUNT, replace=False)
    pngs = [render_like_canvas(test.images[i], rng, transparent=k % 4 == 0) for k, i in enumerate(picks)]
    return test.images[picks], test.labels[picks], pngs


@pytest.mark.mnist
def test_canvas_renderings_through_gunicorn_match_the_originals(renderings):
    images, labels, pngs = renderings
    network = Network.load(ROOT / "model" / "digits.npz")
    original = float(np.mean(network.predict(data.to_columns(images)) == labels))

    def post(url: str, body: bytes, content_type: str) -> int:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            return json.loads(response.read())["label"]

    accuracies = {}
    with gunicorn(workers=2) as server, ThreadPoolExecutor(max_workers=4) as pool:
        for form, encode in FORMS.items():
            bodies = [encode(png) for png in pngs]
            answers = list(pool.map(lambda b: post(server.url + "/predict", *b), bodies))
            accuracies[form] = float(np.mean(np.array(answers) == labels))
    report = f"28x28 originals {original:.2%}; " + ", ".join(f"{f} {a:.2%}" for f, a in accuracies.items())
    assert all(abs(accuracy - original) <= 0.01 for accuracy in accuracies.values()), report
    print(report)
