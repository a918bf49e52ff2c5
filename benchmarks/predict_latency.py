"""Time per /predict request in-process, split into decoding, preprocessing and the network.

    python benchmarks/predict_latency.py [--requests 500]

A PNG of a drawn digit (dark ink on white, as the page sends), 280x280 and 1000x1000, goes through
``preprocess.load_image``, ``preprocess.to_mnist`` and ``Network.predict_proba`` on their own, and
the 280x280 one through the Flask test client for the whole request; p50 and p99 in milliseconds.
The dot-or-dash check (``preprocess.stroke_shape``) is timed side by side with ``to_mnist``, one
call of each in turn, so that its share of the preprocessing is a ratio both timings share the
machine's load for; the rate limit's cost the same way: the whole request with the limits off and
with a ``predict`` budget far above what the run spends (counted, never refused), in turn.
In-process: no network or server in the way.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from model import cli, preprocess
from model.shape import PIXELS
from scripts.drawing import drawn_digit

SIZES = (280, 1000)  # the page's pad, and a large upload


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


def row(label: str, times: np.ndarray) -> None:
    p50, p99 = np.percentile(times, [50, 99])
    print(f"{label:<44}{p50:8.2f}{p99:8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--requests", type=int, default=500, help="timed calls of each step (default 500)")
    args = parser.parse_args(argv)

    # Hundreds of requests from one client: the rate limits are not what is measured.
    app = create_app({"TESTING": True, "RATE_LIMITS": "off"})
    client = app.test_client()
    print(f"{args.requests} timed calls per row; milliseconds")
    print(f"{'step':<44}{'p50':>8}{'p99':>8}")
    checks, preprocessing = {}, {}
    for size in SIZES:
        png = drawn_digit("7", size=size)
        image = preprocess.load_image(png)
        # The check sees only the digit's box; the whole image's ink is an upper bound on its cost.
        ink = 1 - np.asarray(image.convert("L"), dtype=np.float32) / 255
        row(f"decode (load_image), {size} px", timings(lambda png=png: preprocess.load_image(png), args.requests))
        whole, check = paired_timings(
            [lambda image=image: preprocess.to_mnist(image), lambda ink=ink: preprocess.stroke_shape(ink)],
            args.requests,
        )
        row(f"preprocess (to_mnist), {size} px", whole)
        row("  of which at most the dot-or-dash check", check)
        preprocessing[size], checks[size] = float(np.median(whole)), float(np.median(check))
    x = preprocess.to_mnist(preprocess.load_image(drawn_digit("7"))).reshape(PIXELS, 1)
    for name, model in app.extensions["digits.models"].items():
        sizes = "-".join(map(str, model.network.sizes))
        row(f"network {name} ({sizes})", timings(lambda net=model.network: net.predict_proba(x), args.requests))
    png = drawn_digit("7")
    requests = {}
    for name in app.extensions["digits.models"]:
        times = timings(
            lambda name=name: client.post(f"/predict?model={name}", data=png, content_type="image/png"), args.requests
        )
        row(f"whole request, {name}, 280 px", times)
        requests[name] = float(np.median(times))
    limited = create_app({"TESTING": True, "RATE_LIMITS": "predict=100000000/minute"}).test_client()
    free, counted = paired_timings(
        [
            lambda: client.post("/predict", data=png, content_type="image/png"),
            lambda: limited.post("/predict", data=png, content_type="image/png"),
        ],
        args.requests,
    )
    row("whole request, digits, limits off", free)
    row("whole request, digits, limits counting", counted)
    extra = float(np.median(counted) - np.median(free))
    print(f"the rate limit's cost (medians): {extra:+.3f} ms, {np.median(counted) / np.median(free):.3f}x the request")
    print("the dot-or-dash check's share (medians), at most:")
    for size in SIZES:
        print(f"  of to_mnist at {size} px: {checks[size] / preprocessing[size]:.1%}")
    for name, median in requests.items():
        print(f"  of a whole request with {name} at 280 px: {checks[280] / median:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
