"""Slow clients against a running server, while other clients read digits: does anyone starve?

    python scripts/slow_clients.py URL [--connections 256] [--seconds 60] [--probers 2]

Half of ``--connections`` trickle their headers (a request line, then one header byte a second,
never ending them), half send their headers at once and then trickle a declared 10 kB body a byte a
second. Whenever the server disconnects one, it connects again, so that the slow connections last
the whole run. Meanwhile ``--probers`` clients post a drawn 7 to ``/predict`` one request after
another. Prints how long the server kept each kind of slow client and what it answered them, and
the probers' latency; exits 1 when a /predict failed, its p99 went over ``--p99-ms``, or a slow
client stayed connected longer than its deadline (``--header-deadline``, ``--body-deadline``, each
plus ``--margin``). Only for servers you run: it holds hundreds of connections open. Every client
here is one address, far over any budget a visitor has: run the server with ``DIGITS_RATE_LIMITS=off``.

``trickle`` and ``probe`` are what the tests (tests/test_slow_clients.py), the load benchmark
(``benchmarks/load.py --slow N``) and the container check use.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import selectors
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from model import cli  # noqa: E402
from scripts.drawing import drawn_digit  # noqa: E402

HEADERS, BODY = "headers", "body"
DECLARED_BODY = 10 * 1024
# Once a slow client has its answer, the server has this long to close the connection before
# the client counts it as kept open.
CLOSE_GRACE = 5.0


@dataclass
class Held:
    """How the server treated one kind of slow client."""

    connections: int = 0  # connections made
    disconnected: int = 0  # of those, closed by the server during the run
    longest: float = 0.0  # seconds, the longest a connection stayed open (those still open at the end included)
    outcomes: Counter = field(default_factory=Counter)  # "408", "closed" (no answer), "reset", ...

    def describe(self) -> str:
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(self.outcomes.items()))
        return (
            f"{self.connections} connections, {self.disconnected} disconnected by the server "
            f"({outcomes or 'none'}), longest open {self.longest:.1f} s"
        )


@dataclass
class _Slow:
    kind: str
    sock: socket.socket
    opened: float
    data: bytes  # what it sends, a byte at a time after ``sent``
    sent: int
    next_send: float
    answer: bytes = b""
    answered: float | None = None


def _request_bytes(kind: str, host: str, port: int) -> tuple[bytes, int]:
    """What a slow client of ``kind`` sends, and how much of it goes at once."""
    if kind == HEADERS:
        start = f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
        return start + b"X-Slow: " + b"a" * 4000, len(start)  # a header that never ends
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {DECLARED_BODY}\r\n\r\n"
    ).encode()
    return head + b"\x89" * DECLARED_BODY, len(head)


def _open(kind: str, host: str, port: int, selector: selectors.BaseSelector, now: float) -> _Slow | None:
    data, at_once = _request_bytes(kind, host, port)
    try:
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(data[:at_once])
    except OSError:
        return None
    sock.setblocking(False)
    slow = _Slow(kind, sock, now, data, at_once, now + 1.0)
    selector.register(sock, selectors.EVENT_READ, slow)
    return slow


def _outcome(slow: _Slow, how: str) -> str:
    if slow.answer.startswith(b"HTTP/"):
        return slow.answer.split(b" ", 2)[1].decode("ascii", "replace")
    return how


def trickle(
    url: str, connections: int, seconds: float, interval: float = 1.0, stop: threading.Event | None = None
) -> dict[str, Held]:
    """Keep ``connections`` slow clients on ``url`` for ``seconds`` (half of each kind), sending one
    byte each ``interval`` seconds; return how the server held each kind. Every socket is closed
    before it returns."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    kinds = [HEADERS if k % 2 == 0 else BODY for k in range(connections)]
    held = {HEADERS: Held(), BODY: Held()}
    selector = selectors.DefaultSelector()
    open_: dict[int, _Slow] = {}
    start = time.monotonic()
    end = start + seconds

    def connect(kind: str, now: float) -> None:
        slow = _open(kind, host, port, selector, now)
        held[kind].connections += 1
        if slow is None:
            held[kind].outcomes["refused"] += 1
        else:
            # Spread the sends over the interval rather than sending every byte at the same moment.
            slow.next_send = now + interval * (1 + len(open_) % 10 / 10)
            open_[id(slow)] = slow

    def close(slow: _Slow, now: float, how: str | None) -> None:
        selector.unregister(slow.sock)
        slow.sock.close()
        del open_[id(slow)]
        record = held[slow.kind]
        record.longest = max(record.longest, now - slow.opened)
        if how is not None:
            record.disconnected += 1
            record.outcomes[_outcome(slow, how)] += 1

    try:
        for kind in kinds:
            connect(kind, time.monotonic())
        while (now := time.monotonic()) < end and not (stop and stop.is_set()):
            for key, _ in selector.select(timeout=0.05):
                slow: _Slow = key.data
                try:
                    chunk = slow.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = None
                now = time.monotonic()
                if chunk:
                    slow.answer += chunk
                    slow.answered = slow.answered or now
                    continue
                close(slow, now, "closed" if chunk == b"" else "reset")
                if now < end:
                    connect(slow.kind, now)
            now = time.monotonic()
            for slow in list(open_.values()):
                if slow.answered is not None:
                    if now - slow.answered > CLOSE_GRACE:  # answered, but the server keeps the connection
                        close(slow, now, "answered, kept open")
                        connect(slow.kind, now)
                elif now >= slow.next_send and slow.sent < len(slow.data):
                    try:
                        slow.sock.send(slow.data[slow.sent : slow.sent + 1])
                        slow.sent += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        close(slow, now, "reset")
                        connect(slow.kind, now)
                        continue
                    slow.next_send += interval
    finally:
        now = time.monotonic()
        for slow in list(open_.values()):
            close(slow, now, None)
        selector.close()
    return held


@dataclass
class Probed:
    """The probers' /predict requests: latencies in ms, and how many failed (with what)."""

    latencies: np.ndarray
    failures: Counter

    @property
    def count(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.count else float("nan")

    def describe(self) -> str:
        failed = sum(self.failures.values())
        detail = f" ({', '.join(f'{k} {v}' for k, v in sorted(self.failures.items()))})" if failed else ""
        return (
            f"{self.count} requests, {failed} failed{detail}; p50 {self.percentile(50):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms, max {self.percentile(100):.1f} ms"
        )


@contextlib.contextmanager
def probe(url: str, probers: int = 2, timeout: float = 10.0) -> Iterator[list[Probed]]:
    """Post a drawn 7 to ``url``/predict from ``probers`` threads, one request after another on a
    keep-alive connection, until the block ends; the list it yields holds one ``Probed`` after."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    png = drawn_digit("7", size=280)
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(probers)]
    failures: Counter = Counter()
    lock = threading.Lock()

    def run(k: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                conn.request("POST", "/predict", body=png, headers={"Content-Type": "image/png"})
                response = conn.getresponse()
                response.read()
                failure = None if response.status == 200 else str(response.status)
            except (OSError, http.client.HTTPException) as e:
                failure = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            latencies[k].append((time.perf_counter() - started) * 1000)
            if failure is not None:
                with lock:
                    failures[failure] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(probers)]
    result: list[Probed] = []
    for t in threads:
        t.start()
    try:
        yield result
    finally:
        stop.set()
        for t in threads:
            t.join()
        result.append(Probed(np.array([x for per in latencies for x in per]), failures))


def problems(
    held: dict[str, Held], probed: Probed, p99_ms: float, header_deadline: float, body_deadline: float, margin: float
) -> list[str]:
    """What went wrong, in words (empty when nothing did)."""
    found = []
    if probed.count == 0:
        found.append("no /predict request was answered")
    if sum(probed.failures.values()):
        found.append(f"{sum(probed.failures.values())} /predict requests failed")
    if probed.failures["429"]:
        found.append("the server rate-limits this client (429): run it with DIGITS_RATE_LIMITS=off for this check")
    if probed.count and probed.percentile(99) > p99_ms:
        found.append(f"/predict p99 {probed.percentile(99):.0f} ms is over {p99_ms:g} ms")
    for kind, deadline in ((HEADERS, header_deadline), (BODY, body_deadline)):
        if held[kind].longest > deadline + margin:
            found.append(f"a slow-{kind} client stayed {held[kind].longest:.1f} s (deadline {deadline:g} s)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--connections", type=int, default=256, help="slow connections, half of each kind")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--probers", type=int, default=2, help="clients posting /predict meanwhile")
    parser.add_argument("--p99-ms", type=float, default=500.0)
    parser.add_argument("--header-deadline", type=float, default=5.0, help="gunicorn's keepalive")
    parser.add_argument("--body-deadline", type=float, default=15.0, help="DIGITS_REQUEST_TIMEOUT")
    parser.add_argument("--margin", type=float, default=2.0, help="seconds allowed past each deadline")
    args = parser.parse_args(argv)
    with probe(args.url, args.probers) as probed:
        held = trickle(args.url, args.connections, args.seconds)
    print(f"{args.connections} slow connections for {args.seconds:g} s on {args.url}:")
    for kind in (HEADERS, BODY):
        print(f"  slow {kind}: {held[kind].describe()}")
    print(f"  /predict meanwhile ({args.probers} clients): {probed[0].describe()}")
    found = problems(held, probed[0], args.p99_ms, args.header_deadline, args.body_deadline, args.margin)
    for problem in found:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
