"""How well phone photos of digits on paper are read: renderings of MNIST test digits through /predict.

    MNIST_DIR=... python benchmarks/photo_accuracy.py [--n 1000] [--seed 0] [--size 640]

``n`` MNIST test digits (drawn with the seed) are photographed by ``scripts/photos.py`` (uneven
light, shadows, coloured, textured or ruled paper, the paper's edge, noise, blur, rotation, JPEG
at quality 70) and posted to ``/predict`` through the Flask test client. It prints:

- photos: the share read right, overall and for each variant (a photo can have several; "plain"
  is one with none of them), beside the share of the same digits' own 28x28 images read right;
- without the paper step: the share read right when the photo's ink is measured against its
  border's colour, as drawings are (``preprocess.ink_to_mnist`` on that ink), which is what
  ``/predict`` did before ``model.paper``;
- refused: the photos answered 422 (no digit found);
- ms per photo: the whole request in process, p50 (decoding, the paper step, the 28x28, the network).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from model import cli, preprocess
from model.data import load_mnist_split
from model.mnist import default_dir
from model.network import Network
from model.shape import PIXELS
from scripts.photos import VARIANTS, as_ink, render

WEIGHTS = Path(__file__).resolve().parent.parent / "model" / "digits.npz"


def border_ink(jpeg: bytes) -> np.ndarray:
    """The ink of a photo measured against the median of its border, as a drawing's is (h, w)."""
    with Image.open(io.BytesIO(jpeg)) as opened:
        grey = np.asarray(opened.convert("L"), dtype=np.float32) / 255
    ring = max(1, min(grey.shape) // 50)
    border = np.concatenate([grey[:ring], grey[-ring:], grey[:, :ring].T, grey[:, -ring:].T], axis=None)
    background = float(np.median(border))
    darker, lighter = background - float(grey.min()), float(grey.max()) - background
    ink = background - grey if darker > lighter else grey - background
    return np.clip(ink / max(darker, lighter, 1e-6), 0.0, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--n", type=cli.number(int), default=1000, help="photos to read (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    parser.add_argument("--size", type=cli.number(int), default=640, help="the photos' side in pixels (default 640)")
    parser.add_argument("--data", type=Path, default=None, help="the MNIST folder (default: $MNIST_DIR)")
    args = parser.parse_args(argv)

    test = load_mnist_split(args.data or default_dir(), "t10k")
    client = create_app({"TESTING": True, "RATE_LIMITS": "off"}).test_client()
    network = Network.load(WEIGHTS)
    rng = np.random.default_rng(args.seed)
    index = rng.choice(len(test.images), args.n, replace=False)
    right, seen = Counter(), Counter()
    own = network.predict(test.images[index].reshape(-1, PIXELS).T / 255.0) == test.labels[index]
    own_right = Counter()
    before, refused, times = 0, 0, []
    for k, i in enumerate(index):
        photo = render(as_ink(test.images[i]), rng, size=args.size)
        label = int(test.labels[i])
        start = time.perf_counter()
        response = client.post("/predict", data=photo.jpeg, content_type="image/jpeg")
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code == 422:
            refused += 1
        elif response.status_code != 200:
            answer = response.get_data(as_text=True)[:200]
            raise SystemExit(f"photo {k}: /predict answered {response.status_code}: {answer}")
        good = response.status_code == 200 and response.get_json()["label"] == label
        for name in (*photo.variants, "all") if photo.variants else ("plain", "all"):
            seen[name] += 1
            right[name] += good
            own_right[name] += bool(own[k])
        try:
            x = preprocess.ink_to_mnist(border_ink(photo.jpeg))
            before += int(network.predict(x.reshape(PIXELS, 1))[0]) == label
        except preprocess.NoDigitFound:
            pass
    n = args.n
    print(f"{n} photos of MNIST test digits, seed {args.seed}, {args.size} px, model/digits.npz")
    print(f"{'photos':<28}{'read right':>12}{'own 28x28':>12}{'n':>7}")
    for name in ("all", "plain", *VARIANTS):
        if seen[name]:
            print(f"  {name:<26}{right[name] / seen[name]:>12.2%}{own_right[name] / seen[name]:>12.2%}{seen[name]:>7}")
    print(f"without the paper step: {before / n:.2%} read right")
    print(f"refused (422 no digit): {refused}")
    print(f"ms per photo (whole request, p50): {np.median(times):.2f}, p99: {np.percentile(times, 99):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
