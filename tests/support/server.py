"""A real gunicorn serving the app on a free loopback port, for tests: ``scripts/serve.py``, with
two workers unless a test asks for another number."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from scripts import serve
from scripts.serve import Server, configured, free_port

__all__ = ["Server", "configured", "free_port", "gunicorn"]


@contextlib.contextmanager
def gunicorn(env: Mapping[str, str] | None = None, workers: int = 2, timeout: float = 60) -> Iterator[Server]:
    """``gunicorn wsgi:app`` as gunicorn.conf.py configures it, on 127.0.0.1, with its own feedback
    database unless ``env`` names one and no rate limits unless ``env`` gives ``DIGITS_RATE_LIMITS``;
    stopped when the block ends."""
    with serve.gunicorn(env=env, workers=workers, timeout=timeout) as server:
        yield server
