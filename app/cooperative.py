"""The one place that knows the app may run on gevent (gunicorn.conf.py's worker class).

A gevent worker serves all its connections from one thread, switching between them whenever one
waits for the network. Two things follow, and both are done here: a read from a slow client can
be given a deadline (``deadline``: gevent interrupts the read itself), and a call that waits
without the network (SQLite's busy wait for another process's lock, a slow disk) must not run on
that thread, or every request of the worker waits with it (``off_event_loop``). Anywhere else (the
Flask test client, a threaded server) both fall back to plain calls: the deadline is then checked
between reads, and a blocking call blocks only its own thread.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import TypeVar

try:  # gevent comes with gunicorn[gevent]; the app still runs without it
    import gevent
    from gevent.monkey import is_module_patched
except ImportError:  # pragma: no cover - installed with the app's dependencies
    gevent = None

T = TypeVar("T")


def active() -> bool:
    """Whether this process is cooperative: gevent has patched the standard library's sockets."""
    return gevent is not None and is_module_patched("socket")


@contextlib.contextmanager
def deadline(seconds: float, error: Exception) -> Iterator[None]:
    """Raise ``error`` where the block is waiting if it takes longer than ``seconds`` (under gevent;
    elsewhere the block runs to its end). ``error`` is an ``Exception``, not gevent's ``Timeout``
    (a ``BaseException``), so that what the block was reading from sees a failed read."""
    if not active() or math.isinf(seconds):
        yield
        return
    with gevent.Timeout(seconds, error):
        yield


def off_event_loop(call: Callable[..., T], *args: object, blocking: bool = True) -> T:
    """``call(*args)`` in gevent's thread pool, the request waiting for it while the worker serves
    others (under gevent); elsewhere, or for a call that is not ``blocking`` (its waits yield to
    gevent by themselves, as psycopg's do), a plain call. Its exceptions are raised here."""
    if not blocking or not active():
        return call(*args)
    return gevent.get_hub().threadpool.apply(call, args)
