"""Time per /predict request in-process, split into decoding, preprocessing and the network.

    python benchmarks/predict_latency.py [--requests 500]

A 280x280 PNG of a drawn digit (dark ink on white, as the page sends) goes through the Flask
test client for the whole request, and through ``preprocess.load_image``, ``preprocess.to_mnist``
and ``Network.predict_proba`` on their own for the split; p50 and p99 in milliseconds for each
model. In-process: no network or server in the way.
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
from model import preprocess
from scripts.drawing import drawn_digit


def timings(work: Callable[[], object], n: int) -> np.ndarray:
    """Milliseconds for each of ``n`` calls of ``work``, after a few untimed warm-up calls."""
    for _ in range(5):
        work()
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        work()
        times[i] = (time.perf_counter() - start) * 1000
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="timed calls of each step (default 500)")
    args = parser.parse_args(argv)

    app = create_app({"TESTING": True})
    client = app.test_client()
    png = drawn_digit("7", size=280)
    image = preprocess.load_image(png)
    x = preprocess.to_mnist(image).reshape(784, 1)

    print(f"{len(png):,}-byte 280x280 PNG, {args.requests} timed calls per row; milliseconds")
    print(f"{'step':<34}{'p50':>8}{'p99':>8}")
    rows: list[tuple[str, Callable[[], object]]] = [
        ("decode (load_image)", lambda: preprocess.load_image(png)),
        ("preprocess (to_mnist)", lambda: preprocess.to_mnist(image)),
    ]
    for name, model in app.extensions["digits.models"].items():
        rows.append(
            (
                f"network {name} ({'-'.join(map(str, model.network.sizes))})",
                lambda net=model.network: net.predict_proba(x),
            )
        )
    for name in app.extensions["digits.models"]:
        rows.append(
            (
                f"whole request, {name}",
                lambda name=name: client.post(f"/predict?model={name}", data=png, content_type="image/png"),
            )
        )
    for label, work in rows:
        p50, p99 = np.percentile(timings(work, args.requests), [50, 99])
        print(f"{label:<34}{p50:8.2f}{p99:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
