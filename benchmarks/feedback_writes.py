"""Feedback writes per second: PostgreSQL behind nginx and two replicas, next to one server's SQLite.

    python benchmarks/feedback_writes.py [--samples 3200] [--connections 16]

Signs ``--samples`` sample tokens with a key the servers share (as ``/predict`` would), then posts
each to ``POST /api/feedback`` with a label over ``--connections`` keep-alive connections, first to
the scaled-out deployment (Debian's PostgreSQL and nginx from ``scripts/``, the deployment's nginx
template, two gunicorn replicas of one worker each) and then to one gunicorn of two workers with the
default SQLite file, and prints the stored samples per second of each and their ratio. Every
answer must be 201 and every sample must be in the database afterwards. Only loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import samples  # noqa: E402
from model import cli  # noqa: E402
from model.shape import PIXELS  # noqa: E402
from scripts import nginx, serve  # noqa: E402
from scripts.postgres import running_postgres  # noqa: E402

KEY = "feedback-writes-benchmark-key"


def tokens(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` signed sample tokens, each with the label to give it."""
    rng = np.random.default_rng(seed)
    signed = []
    for k in range(n):
        sample = samples.new_sample(rng.random(PIXELS), k % 10, "digits")
        signed.append((samples.sign(sample, [KEY]), int(rng.integers(10))))
    return signed


def post_all(port: int, batch: list[tuple[str, int]]) -> list[int]:
    """Each of ``batch`` posted over one keep-alive connection; the statuses."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    statuses = []
    try:
        for token, label in batch:
            body = json.dumps({"sample": token, "label": label})
            connection.request("POST", "/api/feedback", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    return statuses


def writes_per_second(port: int, signed: list[tuple[str, int]], connections: int) -> float:
    batches = [signed[k::connections] for k in range(connections)]
    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        statuses = [s for batch in pool.map(lambda b: post_all(port, b), batches) for s in batch]
    elapsed = time.perf_counter() - start
    bad = len(statuses) - statuses.count(201)
    if bad:
        raise SystemExit(f"{bad} of {len(statuses)} feedback answers were not 201")
    return len(statuses) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--samples", type=int, default=3200)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    if not nginx.available():
        parser.error(f"needs Debian's nginx at {nginx.NGINX} (apt-get install nginx-light)")
    signed = tokens(args.samples)
    env = {"DIGITS_SECRET_KEY": KEY, "DIGITS_TRUSTED_PROXIES": "1"}

    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(running_postgres())
        url = postgres.new_database()
        replicas = [
            stack.enter_context(serve.gunicorn(env={**env, "DIGITS_FEEDBACK_DB": url}, workers=1)) for _ in range(2)
        ]
        front = stack.enter_context(nginx.running([f"127.0.0.1:{r.port}" for r in replicas]))
        scaled = writes_per_second(int(front.url.rsplit(":", 1)[1]), signed, args.connections)
        stored = int(postgres.psql("SELECT count(*) FROM samples", url.rsplit("/", 1)[1]).strip())
    print(
        f"PostgreSQL behind nginx and 2 replicas x 1 worker: {scaled:.0f} samples stored/s "
        f"({stored} of {args.samples} stored, {args.connections} connections)"
    )

    with serve.gunicorn(env=env, workers=2) as server:
        direct = writes_per_second(server.port, signed, args.connections)
        with contextlib.closing(sqlite3.connect(server.feedback_db)) as db:
            stored_here = db.execute("SELECT count(*) FROM samples").fetchone()[0]
    print(
        f"SQLite in one gunicorn x 2 workers:                {direct:.0f} samples stored/s "
        f"({stored_here} of {args.samples} stored)"
    )
    print(f"PostgreSQL deployment / SQLite server: {scaled / direct:.2f}")
    return 0 if stored == stored_here == args.samples else 1


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
