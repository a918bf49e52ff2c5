"""Rate limits: a budget per client on each route that does work, shared by every gunicorn worker.

Budgets, by name (``BUDGETS``: default limits in the `limits` package's notation, and what a 429
says), each counted per client:

- ``predict`` (``POST /predict`` and ``POST /api/read``, the same work) and ``explain``
  (``POST /api/explain``): 120 a minute, 2,400 an hour. The page reads the drawing 250 ms after
  every stroke (one request, with the explanation when its panel is open), so a brisk person makes
  about one a second while drawing: twice that for a minute, and 40 a minute kept up for a whole
  hour, is more than a person draws.
- ``feedback`` (``POST /api/feedback``): 30 a minute, 500 an hour: one answer per drawing.
- ``sign_in`` (the review page's sign-in): 5 a minute, 30 an hour: room for a few typing mistakes,
  and 720 guesses a day at a token of 16 or more random characters is no attack.

``DIGITS_RATE_LIMITS`` (setting ``RATE_LIMITS``) is ``off``, or comma-separated ``name=LIMITS``
where LIMITS is the `limits` notation (several limits of one budget joined by ``;``:
``predict=60/minute;600/hour``) or ``off``; budgets not named keep their defaults. An unknown name
or a limit that cannot be read stops start-up with one line (``budgets`` raises ``ValueError``).

How far a client can go. The counts live in one table in memory shared by all the workers
(``SharedCounts``), so the budget a client meets is the same whatever ``WEB_CONCURRENCY`` is: the
factor from the worker count is 1. The strategy is `limits`' sliding window counter: a window's
count plus the previous window's, weighted by how much of the previous window is still in the last
window's length. Over a long run a client gets the budget per window; in any span of one window's
length it gets at most twice the budget (only by spending a whole budget at the very end of one
window, then the rest at an even pace through the next). So the factor between the configured
budget and what a client gets is at most 2. (A fixed window would allow those 2 budgets in an
instant, around a window's boundary.) A refused request is not counted (unless another worker
took a longer limit's last place in the same instant), so a client that keeps knocking is let in as
soon as its weighted count allows, which ``Retry-After`` says to the second.

Counted where: ``limit`` decorates a view, and counts before the view reads the body; a view that
must refuse some requests before they count (the review page's sign-in: a form sent from another
site must not spend the admin's budget) calls ``spend`` itself once they have passed.

Shared across workers: gunicorn.conf.py preloads the app, so ``create_app`` runs in the master and
the table, an anonymous shared ``mmap`` viewed as a NumPy array of fixed-size slots (a key's hash,
its count, when it expires), is made before the workers are forked, and every worker sees the
same memory. Each update holds a POSIX record lock (``fcntl.lockf`` on an unlinked temporary file
that nothing is written to), which the kernel releases if a worker dies holding it, for the few
microseconds a lookup in one set of 16 slots takes: a gevent worker waiting on it is not frozen.
The table is bounded (``SETS`` x ``WAYS`` slots, 3 MiB): a key goes to the set its hash picks and
takes its own slot, else an expired or empty one, else the one expiring soonest. A client using all
four budgets holds 16 slots (two windows of two limits each), so about eight thousand of them fit
at once; past that, a client's count may be dropped early and its budget start afresh. Without
preloading, each worker would make its own table and a client could get one budget per worker.

Privacy: the client is ``request.remote_addr``, the socket's address, unless
``DIGITS_TRUSTED_PROXIES=N`` has werkzeug's ProxyFix take the address that N proxies report; an
IPv6 client is counted by its /64. Only a keyed hash of it is kept (BLAKE2b with a key made at each
start and never written anywhere), in memory, for as long as its windows last. Nothing here logs,
and the `limits` package logs nothing (Flask-Limiter's line naming the client is not used).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import ipaddress
import math
import mmap
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow
from limits.strategies import SlidingWindowCounterRateLimiter

from app.errors import fail

OFF = "off"


@dataclass(frozen=True)
class Budget:
    """One budget's declaration: its default ``limits`` (the `limits` notation, several joined by ``;``)
    and what a 429 says before "try again in ..." (``refusal``; the drawing page shows it as it is)."""

    limits: str
    refusal: str


BUDGETS: dict[str, Budget] = {
    "predict": Budget("120/minute;2400/hour", "too many readings"),
    "explain": Budget("120/minute;2400/hour", "too many readings"),
    "feedback": Budget("30/minute;500/hour", "too much feedback at once"),
    "sign_in": Budget("5/minute;30/hour", "too many sign-in attempts"),
}
# The default of the RATE_LIMITS setting: every budget spelled out, so the README's table shows them.
DEFAULT_SETTING = ",".join(f"{name}={budget.limits}" for name, budget in BUDGETS.items())
EXTENSION = "digits.ratelimit"

Budgets = dict[str, tuple[RateLimitItem, ...]]  # by name; an empty tuple is a budget turned off


# -- the setting ------------------------------------------------------------------------------------------


def budgets(setting: str) -> Budgets:
    """The budgets ``setting`` (``DIGITS_RATE_LIMITS``' form) configures, each with its limits shortest
    window first; names it leaves out keep their defaults (``BUDGETS``). Raises ``ValueError`` saying what is wrong."""
    text = setting.strip()
    if text.lower() == OFF:
        return {name: () for name in BUDGETS}
    given: dict[str, str] = {}
    for entry in text.split(","):
        name, equals, limits = (part.strip() for part in entry.partition("="))
        if not equals:
            raise ValueError(
                f"has {entry.strip()!r}, which names no budget: write name=LIMITS, and join several limits of "
                "one budget with ';' (predict=60/minute;600/hour)"
            )
        if name not in BUDGETS:
            raise ValueError(f"names no budget {name!r}: the budgets are {', '.join(BUDGETS)}")
        if name in given:
            raise ValueError(f"gives the budget {name!r} twice")
        given[name] = limits
    return {name: _items(name, given.get(name, budget.limits)) for name, budget in BUDGETS.items()}


def rate_limits(raw: str) -> str:
    """``off``, or comma-separated ``name=LIMITS`` (see ``app.ratelimit``): checked, kept as given."""
    budgets(raw)
    return raw.strip()


def _items(name: str, limits: str) -> tuple[RateLimitItem, ...]:
    if limits.lower() == OFF:
        return ()
    try:
        items = parse_many(limits)
    except ValueError:
        raise ValueError(
            f"gives {name} the limit {limits!r}, which is not one: write a count per period such as 60/minute, "
            "several joined with ';' (60/minute;600/hour), or off"
        ) from None
    if any(item.amount < 1 for item in items):
        raise ValueError(f"gives {name} the limit {limits!r}, which lets no request through: use off to turn it off")
    return tuple(sorted(items, key=lambda item: item.get_expiry()))


def describe(items: tuple[RateLimitItem, ...]) -> str:
    """The limits in words ("120 per minute and 2,400 per hour"), or that there are none."""
    if not items:
        return "no limit"

    def phrase(item: RateLimitItem) -> str:
        period = item.GRANULARITY.name if item.multiples == 1 else f"{item.multiples} {item.GRANULARITY.name}s"
        return f"{item.amount:,} per {period}"

    return " and ".join(phrase(item) for item in items)


# -- the shared counts --------------------------------------------------------------------------------------

# One slot: a key's hash (0: never used), its count, and when it expires (time.time(); 0 for never used).
SLOT = np.dtype([("key", "<u8"), ("count", "<i8"), ("expires", "<f8")])
SETS, WAYS = 8192, 16
# Seconds: more than the float error of the window arithmetic on time.time()'s values (about 1e-6).
_SLACK = 1e-3


def _key_hash(key: str) -> int:
    """A key's 64-bit hash, never 0 (which marks an unused slot)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1


class SharedCounts(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """A `limits` storage whose counts every process forked after it was made shares.

    ``slots`` (shape (sets, ways), dtype ``SLOT``) is a view of an anonymous shared ``mmap``; every
    read and update holds ``_lock`` (a thread lock, then a POSIX record lock, which is per process).
    ``clock`` gives the time, ``time.time`` unless a test steps it.
    """

    def __init__(self, sets: int = SETS, ways: int = WAYS, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._memory = mmap.mmap(-1, sets * ways * SLOT.itemsize)  # anonymous and MAP_SHARED: zeros, shared
        self.slots = np.ndarray((sets, ways), dtype=SLOT, buffer=self._memory)
        # Unlinked, only ever locked (nothing is written to it), and open as long as the table is.
        self._lock_file = tempfile.TemporaryFile(prefix="digits-ratelimit-")  # noqa: SIM115
        self._threads = threading.Lock()  # a POSIX lock does not keep out another thread of the same process
        self._clock = clock

    @property
    def base_exceptions(self) -> type[Exception]:
        return OSError

    @contextlib.contextmanager
    def _lock(self) -> Iterator[float]:
        """Hold the table; yields the time to count with."""
        with self._threads:
            fcntl.lockf(self._lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield self._clock()
            finally:
                fcntl.lockf(self._lock_file.fileno(), fcntl.LOCK_UN)

    def _set(self, key: str) -> tuple[np.ndarray, np.uint64]:
        """The slots (shape (ways,)) the key may use, and its hash."""
        hashed = _key_hash(key)
        return self.slots[hashed % self.slots.shape[0]], np.uint64(hashed)

    def _live(self, key: str, now: float) -> tuple[np.ndarray, np.uint64, int | None]:
        """The key's set, its hash and its slot there while it has not expired (None when none)."""
        row, hashed = self._set(key)
        found = np.flatnonzero((row["key"] == hashed) & (row["expires"] > now))
        return row, hashed, int(found[0]) if found.size else None

    def _count(self, key: str, now: float) -> int:
        row, _, slot = self._live(key, now)
        return 0 if slot is None else int(row["count"][slot])

    def _add(self, key: str, expiry: float, amount: int, now: float) -> int:
        row, hashed, slot = self._live(key, now)
        if slot is None:
            # Unused and expired slots have the earliest expiry: one of them, else the one expiring soonest.
            slot = int(np.argmin(row["expires"]))
            row[slot] = (hashed, 0, now + expiry)
        row["count"][slot] += amount
        return int(row["count"][slot])

    def _drop(self, key: str) -> None:
        row, hashed = self._set(key)
        row[row["key"] == hashed] = (0, 0, 0.0)

    # The fixed-window operations (Storage).

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._lock() as now:
            return self._add(key, expiry, amount, now)

    def get(self, key: str) -> int:
        with self._lock() as now:
            return self._count(key, now)

    def get_expiry(self, key: str) -> float:
        with self._lock() as now:
            row, _, slot = self._live(key, now)
            return now if slot is None else float(row["expires"][slot])

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock() as now:
            live = int(np.count_nonzero(self.slots["expires"] > now))
            self.slots[...] = (0, 0, 0.0)
            return live

    def clear(self, key: str) -> None:
        with self._lock():
            self._drop(key)

    # The sliding-window-counter operations, each under one hold of the lock: a request is counted only
    # if the weighted count still has room, whatever another worker did meanwhile.

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._lock() as now:
            previous, previous_ttl, current, _ = self._window(key, expiry, now)
            if math.floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            # Kept two windows: it is the previous window's count through the next one.
            self._add(self.sliding_window_keys(key, expiry, now)[1], 2 * expiry, amount, now)
            return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        with self._lock() as now:
            return self._window(key, expiry, now)

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        with self._lock() as now:
            for window_key in self.sliding_window_keys(key, expiry, now):
                self._drop(window_key)

    def _window(self, key: str, expiry: int, now: float) -> tuple[int, float, int, float]:
        """(previous count, seconds the previous window still weighs, current count, seconds the current
        count is kept), as `limits`' own memory storage gives them."""
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous, current = self._count(previous_key, now), self._count(current_key, now)
        previous_ttl = 0.0 if previous == 0 else (1 - ((now - expiry) / expiry) % 1) * expiry
        current_ttl = (1 - (now / expiry) % 1) * expiry + expiry
        return previous, previous_ttl, current, current_ttl


def seconds_until_allowed(limit: int, window: float, previous: int, current: int, window_left: float) -> float:
    """How long until the sliding window counter lets one more request through, if none comes meanwhile.

    One is let through while ``previous * left / window + current < limit``, where ``left`` is what is
    left of the current window (``window_left`` now), the share of the previous window still counted.
    """
    if current >= limit:
        # Not in this window; in the next, this window's count weighs by what is left of that one.
        return window_left + window * max(0.0, 1 - limit / current)
    if previous == 0:
        return 0.0
    return max(0.0, window_left - window * (limit - current) / previous)


# -- the clients ----------------------------------------------------------------------------------------------


def client_key(address: str | None, salt: bytes) -> str:
    """The key a client is counted by: a keyed hash of its IPv4 address, or of its IPv6 address's /64.

    An address that is not one (a Unix socket's, none) is hashed as given, so such clients share a budget.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        packed = (address or "").encode()
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        # One person's IPv6 network is a /64 (or larger): each of its addresses alone would be a fresh budget.
        packed = ip.packed if ip.version == 4 else ip.packed[:8]
    return hashlib.blake2b(packed, key=salt, digest_size=16).hexdigest()


class Limiter:
    """The budgets of one app and the counts they are held to (``SharedCounts`` unless given)."""

    def __init__(self, configured: Mapping[str, tuple[RateLimitItem, ...]], storage: SharedCounts | None = None):
        self.budgets = dict(configured)
        self.storage = storage if storage is not None else SharedCounts()
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self._salt = secrets.token_bytes(16)  # made once per start, in the master: shared by the workers

    def client(self, address: str | None) -> str:
        return client_key(address, self._salt)

    def spend(self, name: str, client: str) -> int | None:
        """Count a request of ``client`` (``client``'s key) against the budget ``name``: None when it is
        within the budget, else the whole seconds (at least 1) until it would be, and it is not counted."""
        items = self.budgets[name]
        # Tested first, so that a refused request counts against none of the limits; each hit then checks
        # again, under the lock, in case another worker took the last place meanwhile.
        if all(self.strategy.test(item, client, name) for item in items) and all(
            self.strategy.hit(item, client, name) for item in items
        ):
            return None
        # Whole seconds after the wait, never on it: on it the count is just at the limit, still refused.
        return math.floor(max(self._wait(item, client, name) for item in items) + _SLACK) + 1

    def _wait(self, item: RateLimitItem, client: str, name: str) -> float:
        window = item.get_expiry()
        previous, _, current, current_ttl = self.storage.get_sliding_window(item.key_for(client, name), window)
        return seconds_until_allowed(item.amount, window, previous, current, current_ttl - window)


# -- the app -------------------------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Hold the app's routes to ``app.config["RATE_LIMITS"]``; raises ``ValueError`` for a setting that
    cannot be read. With every budget off, no table is made."""
    configured = budgets(app.config["RATE_LIMITS"])
    app.extensions[EXTENSION] = Limiter(configured) if any(configured.values()) else None


def configured_limits(app: Flask, name: str) -> tuple[RateLimitItem, ...]:
    """The limits ``app`` holds the budget ``name`` to (none when it is off)."""
    limiter: Limiter | None = app.extensions.get(EXTENSION)
    return () if limiter is None else limiter.budgets[name]


View = TypeVar("View", bound=Callable[..., Any])


def _known(name: str) -> None:
    if name not in BUDGETS:
        raise ValueError(f"no budget {name!r}: the budgets are {', '.join(BUDGETS)}")


def spend(name: str) -> None:
    """Count the request being served against the budget ``name``; over it, raise ``rate_limited``
    (429, with ``Retry-After``). For a view that counts only requests past its own first checks;
    others use ``limit``."""
    _known(name)
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None or not limiter.budgets[name]:
        return
    wait = limiter.spend(name, limiter.client(request.remote_addr))
    if wait is not None:
        fail("rate_limited", f"{BUDGETS[name].refusal}: try again in {_later(wait)}", {"Retry-After": str(wait)})


def limit(name: str) -> Callable[[View], View]:
    """Decorate a view (under its route decorator) to count each request against the budget ``name``; over
    it, the request is answered 429 ``rate_limited`` with ``Retry-After``, before its body is read."""
    _known(name)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            spend(name)
            return view(*args, **kwargs)

        return cast(View, limited)

    return decorate


def _later(seconds: int) -> str:
    """``seconds`` as a person reads a wait: "40 s", "17 min", "3 h", "12 days" (rounded up)."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{math.ceil(seconds / size)} {unit}"
    return f"{seconds} s"
