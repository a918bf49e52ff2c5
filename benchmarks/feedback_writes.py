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
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import cli  # noqa: E402
from scripts import nginx, serve  # noqa: E402
from scripts.feedback_client import Token, send_feedback, signed_tokens  # noqa: E402
from scripts.postgres import running_postgres  # noqa: E402

KEY = "feedback-writes-benchmark-key"


def writes_per_second(url: str, signed: list[Token], connections: int) -> float:
    """Post every token over ``connections`` connections to ``url``; the samples stored per second."""
    batches = [signed[k::connections] for k in range(connections)]
    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        statuses = [s for batch in pool.map(lambda b: send_feedback(url, b), batches) for s in batch]
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
    signed = signed_tokens(args.samples, KEY)
    env = {"DIGITS_SECRET_KEY": KEY, "DIGITS_TRUSTED_PROXIES": "1"}

    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(running_postgres())
        url = postgres.new_database()
        replicas = [
            stack.enter_context(serve.gunicorn(env={**env, "DIGITS_FEEDBACK_DB": url}, workers=1)) for _ in range(2)
        ]
        front = stack.enter_context(nginx.running([f"127.0.0.1:{r.port}" for r in replicas]))
        scaled = writes_per_second(front.url, signed, args.connections)
        stored = int(postgres.psql("SELECT count(*) FROM samples", url.rsplit("/", 1)[1]).strip())
    print(
        f"PostgreSQL behind nginx and 2 replicas x 1 worker: {scaled:.0f} samples stored/s "
        f"({stored} of {args.samples} stored, {args.connections} connections)"
    )

    with serve.gunicorn(env=env, workers=2) as server:
        direct = writes_per_second(server.url, signed, args.connections)
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
