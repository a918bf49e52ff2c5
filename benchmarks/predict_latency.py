"""Time per /predict request in-process, next to a plain pipeline written for speed.

    python benchmarks/predict_latency.py [--requests 500]

The page sends a 140x140 PNG of near-black strokes on transparent pixels (``static/js/pad.js``;
it sent 280x280 before); ``page_drawing`` draws one the same way. Every comparison is measured side by side, one call of
each in turn, so that both share the machine's load (absolute times swing 2x with it) and the
ratios are what to read:

- the canvas path's preprocessing (``preprocess.preprocess``: ``load_image`` and ``to_mnist``)
  for the page's 140x140 PNG, the 280x280 one it sent before and a 360x360 one, against
  ``plain``: Pillow's decode, the alpha channel as the ink, a uint8 Lanczos resize of its box
  into 20 px, the centre of mass placed in 28x28, and nothing else (no checks, no speck filter,
  no sub-pixel centring);
- the whole ``/predict`` request (Flask test client, rate limits off) against ``plain`` plus the
  network's forward pass, at 280 and 140 px;
- ``/predict?explain=1`` (the page's one request when the inside-the-network panel is open)
  against ``/predict``; the rate limit's cost (limits counting, never refusing, against off);
- a 1000x1000 drawing on white (the general path), a 12-megapixel phone photo (4000x3000 JPEG
  at quality 90, ``scripts/photos.py``) through ``/predict``, and a four-digit number through
  ``/api/read``. p50 and p99 in milliseconds. In-process: no network or server in the way.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

# One BLAS thread, as each of the server's workers has (gunicorn.conf.py): set before NumPy starts
# its BLAS, or the forward pass's threads contend for a busy machine's cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from model import cli, preprocess  # noqa: E402
from model.shape import PIXELS, SIDE  # noqa: E402
from scripts.drawing import drawn_digit  # noqa: E402
from scripts.photos import twelve_megapixels  # noqa: E402

PAGE_SIZES = (140, 280, 360)  # what the page sends (static/js/pad.js), the pad before, a larger canvas
WHOLE_SIZES = (280, 140)
INK = (17, 17, 17)  # pad.js's "#111111"
PEN = 1 / 13  # pad.js's LINE_WIDTH, of the pad's height
# Polylines of digits in units of the pad's height, as a person draws them on the page.
STROKES = {
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]],
    "4": [[(0.6, 0.85), (0.6, 0.15), (0.2, 0.6), (0.8, 0.6)]],
    "2": [[(0.28, 0.3), (0.45, 0.16), (0.66, 0.2), (0.7, 0.38), (0.3, 0.84), (0.74, 0.84)]],
    "0": [[(0.5, 0.15), (0.72, 0.3), (0.74, 0.65), (0.5, 0.85), (0.27, 0.65), (0.28, 0.3), (0.5, 0.15)]],
    "6": [[(0.66, 0.15), (0.35, 0.45), (0.3, 0.72), (0.5, 0.86), (0.7, 0.7), (0.62, 0.52), (0.4, 0.55)]],
}


def page_drawing(text: str = "7", height: int = 280, supersample: int = 4) -> bytes:
    """PNG bytes of ``text``'s digits drawn as the page's pad sends them: ``height`` px tall and
    ``height`` per digit wide, a round pen of PEN, anti-aliased (coverage as alpha), INK on
    (0, 0, 0, 0)."""
    s = height * supersample
    coverage = Image.new("L", (s * len(text), s), 0)
    draw = ImageDraw.Draw(coverage)
    pen = round(PEN * s)
    for k, digit in enumerate(text):
        for line in STROKES[digit]:
            points = [((k + x) * s, y * s) for x, y in line]
            draw.line(points, fill=255, width=pen, joint="curve")
            for x, y in (points[0], points[-1]):  # round caps
                draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=255)
    alpha = np.asarray(coverage.reduce(supersample))
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[alpha > 0, :3] = INK
    rgba[..., 3] = alpha
    out = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(out, format="PNG")
    return out.getvalue()


def plain(data: bytes) -> np.ndarray:
    """A plain pipeline written for speed: image bytes -> (28, 28) float32, light ink on black.

    The alpha channel as the ink (255 - grey for an opaque image), cropped to its box, a uint8
    Lanczos resize (after a whole-factor reduction) so the box's longer side is 20 px, pasted
    into 28x28 with its centre of mass at the centre to the nearest pixel.
    """
    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode in ("RGBA", "LA"):
        ink = image.crop(image.getbbox(alpha_only=True)).getchannel("A")
    else:
        ink = Image.eval(image.convert("L"), lambda v: 255 - v)
        ink = ink.crop(ink.getbbox())
    width, height = ink.size
    s = 20 / max(width, height)
    size = (max(1, round(width * s)), max(1, round(height * s)))
    small = np.asarray(ink.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0), dtype=np.float32) / 255
    total = small.sum()
    row = small.sum(axis=1) @ np.arange(small.shape[0]) / total
    col = small.sum(axis=0) @ np.arange(small.shape[1]) / total
    top = min(max(round(SIDE / 2 - row), 0), SIDE - small.shape[0])
    left = min(max(round(SIDE / 2 - col), 0), SIDE - small.shape[1])
    out = np.zeros((SIDE, SIDE), dtype=np.float32)
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out


def timings(work: Callable[[], object], n: int) -> np.ndarray:
    """Milliseconds for each of ``n`` calls of ``work``, after a few untimed warm-up calls."""
    return paired_timings([work], n)[0]


def paired_timings(works: list[Callable[[], object]], n: int) -> list[np.ndarray]:
    """Milliseconds for each of ``n`` rounds of calling every one of ``works`` in turn."""
    for _ in range(5):
        for work in works:
            work()
    times = [np.empty(n) for _ in works]
    for i in range(n):
        for work, spent in zip(works, times):
            start = time.perf_counter()
            work()
            spent[i] = (time.perf_counter() - start) * 1000
    return times


def row(label: str, times: np.ndarray) -> float:
    """Print the p50 and p99 of ``times``; return the p50."""
    p50, p99 = np.percentile(times, [50, 99])
    print(f"{label:<52}{p50:8.2f}{p99:8.2f}")
    return float(p50)


def post(client, path: str, data: bytes, content_type: str = "image/png") -> Callable[[], object]:
    """A call that posts ``data`` to ``path`` and insists on a 200 (a refused image is no timing)."""

    def call() -> object:
        response = client.post(path, data=data, content_type=content_type)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)[:200]}")
        return response

    return call


def phone_photo() -> bytes:
    """A 12-megapixel phone photo (4000x3000 JPEG at quality 90, 3-6 MB) of a drawn 7."""
    ink = np.asarray(Image.open(io.BytesIO(page_drawing("7", 280))).getchannel("A"), dtype=np.float32) / 255
    return twelve_megapixels(ink, np.random.default_rng(12)).jpeg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--requests", type=int, default=500, help="timed calls of each step (default 500)")
    args = parser.parse_args(argv)
    n = args.requests

    # Hundreds of requests from one client: the rate limits are not what is measured.
    app = create_app({"TESTING": True, "RATE_LIMITS": "off"})
    client = app.test_client()
    network = app.extensions["digits.models"][app.config["DEFAULT_MODEL"]].network
    print(f"{n} timed calls per row (fewer for the photo); milliseconds")
    print(f"{'step':<52}{'p50':>8}{'p99':>8}")
    ratios = []

    for size in PAGE_SIZES:
        png = page_drawing("7", size)
        decode, ours, fast = paired_timings(
            [
                lambda png=png: preprocess.load_image(png),
                lambda png=png: preprocess.preprocess(png),
                lambda png=png: plain(png),
            ],
            n,
        )
        row(f"page's drawing {size} px: decode (load_image)", decode)
        p_ours = row(f"page's drawing {size} px: preprocess (load_image + to_mnist)", ours)
        p_plain = row(f"page's drawing {size} px: plain pipeline", fast)
        ratios.append((f"canvas preprocessing / plain pipeline, {size} px", p_ours / p_plain, 1.0))
        ours28, plain28 = preprocess.preprocess(png), plain(png)
        agreement = float(np.corrcoef(ours28.ravel(), plain28.ravel())[0, 1])
        print(f"  (their 28x28 images' correlation: {agreement:.3f})")

    for size in WHOLE_SIZES:
        png = page_drawing("7", size)
        x = preprocess.preprocess(png).reshape(PIXELS, 1)
        fast, forward, whole = paired_timings(
            [lambda png=png: plain(png), lambda x=x: network.predict_proba(x), post(client, "/predict", png)], n
        )
        p_plain = row(f"plain pipeline, {size} px", fast)
        p_forward = row(f"network forward pass ({'-'.join(map(str, network.sizes))})", forward)
        p_whole = row(f"whole /predict request, {size} px, limits off", whole)
        ratios.append(
            (f"whole /predict / (plain pipeline + forward pass), {size} px", p_whole / (p_plain + p_forward), 1.5)
        )
    png = page_drawing("7")

    for name, model in app.extensions["digits.models"].items():
        row(
            f"network {name} ({'-'.join(map(str, model.network.sizes))})",
            timings(lambda net=model.network: net.predict_proba(x), n),
        )

    plain_request, explained = paired_timings(
        [post(client, "/predict", png), post(client, "/predict?explain=1", png)], n
    )
    p_request = row("/predict, 280 px", plain_request)
    p_explained = row("/predict?explain=1, 280 px (the panel open)", explained)
    ratios.append(("/predict?explain=1 / /predict", p_explained / p_request, None))

    limited = create_app({"TESTING": True, "RATE_LIMITS": "predict=100000000/minute"}).test_client()
    free, counted = paired_timings([post(client, "/predict", png), post(limited, "/predict", png)], n)
    row("whole request, limits off", free)
    row("whole request, limits counting", counted)
    ratios.append(("the rate limit's cost: counting / off", float(np.median(counted) / np.median(free)), None))

    large = drawn_digit("7", size=1000)
    row("drawing on white 1000 px (general path): preprocess", timings(lambda: preprocess.preprocess(large), n))
    row("drawing on white 1000 px: whole /predict", timings(post(client, "/predict", large), n))

    photo = phone_photo()
    few = max(10, n // 20)
    label = f"12 MP photo ({len(photo) / 1e6:.1f} MB JPEG)"
    row(f"{label}: preprocess", timings(lambda: preprocess.preprocess(photo), few))
    row(f"{label}: whole /predict", timings(post(client, "/predict", photo, "image/jpeg"), few))

    number = page_drawing("2026", 280)
    answer = client.post("/api/read", data=number, content_type="image/png")
    if answer.status_code == 200:
        read = answer.get_json()["text"]
        row(f"/api/read, a 4-digit number 1120x280 (read {read!r})", timings(post(client, "/api/read", number), n))
    else:
        print(f"/api/read: skipped ({answer.status_code}: {answer.get_data(as_text=True)[:120]})")

    print("ratios of medians, measured side by side:")
    for label, value, bound in ratios:
        print(f"  {label}: {value:.2f}" + (f" (at most {bound:g})" if bound is not None else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
