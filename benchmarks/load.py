"""Load on a real gunicorn: req/s and latency of /predict next to a trivial endpoint.

    python benchmarks/load.py [--connections 32] [--seconds 20] [--warmup 5] [--slow N] [--config FILE]
                              [--nginx REPLICAS]

Starts ``gunicorn wsgi:app`` as gunicorn.conf.py (or ``--config``) configures it, bound to
127.0.0.1 on a free port, then for each endpoint keeps ``--connections`` keep-alive connections
busy for ``--seconds``: ``GET /healthz`` (the server's floor) and ``POST /predict`` with a 140x140
PNG drawn as the page draws it (``predict_latency.page_drawing``). With ``--slow N``, N slow
clients (``scripts/slow_clients.py``: half trickling headers, half a body, a byte a second)
hold connections all through the measurement.
Prints requests per second, p50/p99 latency, non-2xx answers, the workers' CPU time per request
(which, unlike the rates, does not move with what else runs on the cores), the ratio of the two
rates, and each worker's resident memory at start, after a warm-up and after the load.
``--config`` runs another configuration side by side with this one (e.g. a copy of an older
gunicorn.conf.py). ``--nginx REPLICAS`` then measures the scaled-out deployment the same way, side by
side: Debian's nginx with the deployment's template (``deploy/nginx/default.conf.template``, its
per-client budget raised past what one address sends here) in front of REPLICAS gunicorn replicas,
the same number of workers in all as the direct server (at least one each); its CPU time counts
nginx's too. Only loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.predict_latency import page_drawing  # noqa: E402
from model import cli  # noqa: E402
from scripts import nginx, serve  # noqa: E402
from scripts.slow_clients import trickle  # noqa: E402

CONFIG = serve.CONFIG


def hammer(port: int, method: str, path: str, body: bytes | None, headers: dict, connections: int, seconds: float):
    """Keep ``connections`` connections busy with one request after another for ``seconds``.

    Returns (latencies in ms, statuses, elapsed seconds).
    """
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[list[int]] = [[] for _ in range(connections)]
    deadline = time.perf_counter() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                statuses[k].append(response.status)
            except (OSError, http.client.HTTPException):
                statuses[k].append(0)  # a failed connection counts as a non-2xx answer
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies[k].append((time.perf_counter() - start) * 1000)
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return np.concatenate([np.array(x) for x in latencies]), np.concatenate([np.array(x) for x in statuses]), elapsed


def workers_cpu(pids: list[int]) -> float:
    """CPU seconds (user and system) the processes ``pids`` have used so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def worker_rss(master_pid: int) -> dict[int, int]:
    """Resident memory in KiB of each child process of ``master_pid`` (the gunicorn workers)."""
    rss = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(master_pid):
            rss[int(status.parent.name)] = int(fields["VmRSS"].split()[0])
    return rss


def wait_for_workers(master_pid: int, count: int, timeout: float = 30) -> dict[int, int]:
    """Resident memory of each worker once all ``count`` of them are up (the first one answers
    /healthz before the others have started)."""
    deadline = time.monotonic() + timeout
    while len(rss := worker_rss(master_pid)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(rss)} of {count} workers started")
        time.sleep(0.1)
    return rss


@contextlib.contextmanager
def slow_clients(port: int, count: int) -> Iterator[dict]:
    """``count`` slow clients on ``port`` while the block runs (none when 0); the dict it yields
    holds how the server treated each kind (``scripts.slow_clients.Held``) afterwards."""
    held: dict = {}
    if count == 0:
        yield held
        return
    stop = threading.Event()
    runner = threading.Thread(
        target=lambda: held.update(trickle(f"http://127.0.0.1:{port}", count, float("inf"), stop=stop))
    )
    runner.start()
    time.sleep(2)  # let them connect and start trickling
    try:
        yield held
    finally:
        stop.set()
        runner.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of /predict before measuring (default 5)")
    parser.add_argument("--model", default="digits")
    parser.add_argument("--slow", type=int, default=0, metavar="N", help="slow clients during the measurement")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the gunicorn configuration (gunicorn.conf.py)")
    parser.add_argument(
        "--nginx", type=int, default=0, metavar="REPLICAS", help="also through nginx in front of REPLICAS replicas"
    )
    args = parser.parse_args(argv)
    if args.nginx and not nginx.available():
        parser.error(f"--nginx needs Debian's nginx at {nginx.NGINX} (apt-get install nginx-light)")

    png = page_drawing("7", 140)  # what the page sends (static/js/pad.js): near-black strokes on transparent pixels
    predict = (
        f"POST /predict ({args.model})",
        "POST",
        f"/predict?model={args.model}",
        png,
        {"Content-Type": "image/png"},
    )
    settings = serve.configured(args.config)
    # One client address, far over any visitor's budget: the rate limits are not what is measured.
    with serve.gunicorn(config=args.config, env={"DIGITS_RATE_LIMITS": "off"}) as server:
        port, master = server.port, server.process
        started = wait_for_workers(master.pid, int(settings["workers"]))
        # A worker's first requests grow it once (allocator arenas for its threads, NumPy and
        # Pillow buffers); the warm-up keeps that out of the before/after comparison, which
        # looks for growth under sustained load.
        hammer(port, *predict[1:], args.connections, args.warmup)
        before = worker_rss(master.pid)
        threads = f" x {settings['threads']} threads" if settings["worker_class"] == "gthread" else ""
        print(
            f"gunicorn ({args.config.name}) on http://127.0.0.1:{port}, {len(before)} {settings['worker_class']} "
            f"workers{threads}; {args.connections} connections, {args.seconds:g} s per endpoint after "
            f"{args.warmup:g} s of warm-up" + (f", {args.slow} slow clients throughout" if args.slow else "")
        )
        with slow_clients(port, args.slow) as held:
            rows = measure(port, list(before), predict, args.connections, args.seconds)
        after = worker_rss(master.pid)

    print_rows(rows)
    print(f"/predict rate / /healthz rate: {rows[1][1] / rows[0][1]:.2f}")
    for kind, record in held.items():
        print(f"slow {kind}: {record.describe()}")
    for pid in sorted(before):
        grown = (after.get(pid, 0) - before[pid]) / before[pid]
        print(
            f"worker {pid}: RSS {started.get(pid, 0) / 1024:.1f} MiB at start, {before[pid] / 1024:.1f} MiB "
            f"after warm-up, {after.get(pid, 0) / 1024:.1f} MiB after the load ({grown:+.1%})"
        )
    bad = any(row[5] for row in rows)
    if args.nginx:
        scaled = through_nginx(args, predict, int(settings["workers"]))
        print_rows(scaled)
        for (name, rate, *_), (_, scaled_rate, *_) in zip(rows, scaled, strict=True):
            print(f"{name}: through nginx / direct: {scaled_rate / rate:.2f}")
        bad = bad or any(row[5] for row in scaled)
    return 1 if bad else 0


Row = tuple[str, float, float, float, int, int, float]


def measure(port: int, pids: list[int], predict: tuple, connections: int, seconds: float) -> list[Row]:
    """``GET /healthz`` then ``predict`` on ``port``, each for ``seconds``: (name, req/s, p50 ms, p99 ms,
    requests, non-2xx, CPU ms per request of the processes ``pids``)."""
    rows = []
    for name, method, path, body, headers in [("GET /healthz", "GET", "/healthz", None, {}), predict]:
        cpu = workers_cpu(pids)
        latencies, statuses, elapsed = hammer(port, method, path, body, headers, connections, seconds)
        # The workers' CPU time per request does not depend on how much of the shared
        # cores the load generator and the machine's neighbours leave them.
        cpu_ms = (workers_cpu(pids) - cpu) * 1000 / max(1, len(statuses))
        bad = int(np.sum((statuses < 200) | (statuses >= 300)))
        p50, p99 = np.percentile(latencies, [50, 99])
        rows.append((name, len(statuses) / elapsed, p50, p99, len(statuses), bad, cpu_ms))
    return rows


def print_rows(rows: list[Row]) -> None:
    print(f"{'endpoint':<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'non-2xx':>9}{'CPU ms/req':>12}")
    for name, rate, p50, p99, count, bad, cpu_ms in rows:
        print(f"{name:<26}{rate:9.0f}{p50:9.1f}{p99:9.1f}{count:10d}{bad:9d}{cpu_ms:12.2f}")


def through_nginx(args: argparse.Namespace, predict: tuple, workers: int) -> list[Row]:
    """The same measurement through nginx in front of ``args.nginx`` replicas sharing ``workers``."""
    each = max(1, workers // args.nginx)
    env = {"DIGITS_RATE_LIMITS": "off", "DIGITS_TRUSTED_PROXIES": "1"}
    with contextlib.ExitStack() as stack:
        replicas = [
            stack.enter_context(serve.gunicorn(config=args.config, env=env, workers=each)) for _ in range(args.nginx)
        ]
        front = stack.enter_context(nginx.running([f"127.0.0.1:{r.port}" for r in replicas]))
        pids = [pid for r in replicas for pid in wait_for_workers(r.process.pid, each)]
        pids += list(worker_rss(front.process.pid))  # nginx's worker
        port = int(front.url.rsplit(":", 1)[1])
        hammer(port, *predict[1:], args.connections, args.warmup)
        print(
            f"\nnginx on {front.url} in front of {args.nginx} replicas of {each} "
            f"{serve.configured(args.config)['worker_class']} worker(s) each; the same load"
        )
        return measure(port, pids, predict, args.connections, args.seconds)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
