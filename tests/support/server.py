"""A real gunicorn serving the app on a free loopback port, for tests: ``scripts/serve.py``, with
two workers unless a test asks for another number."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from scripts import serve
from scripts.serve import Server, configured, free_port

__all__ = ["Server", "children", "configured", "free_port", "gunicorn"]


@contextlib.contextmanager
def gunicorn(env: Mapping[str, str] | None = None, workers: int = 2, timeout: float = 60) -> Iterator[Server]:
    """``gunicorn wsgi:app`` as gunicorn.conf.py configures it, on 127.0.0.1, with its own feedback
    database unless ``env`` names one and no rate limits unless ``env`` gives ``DIGITS_RATE_LIMITS``;
    stopped when the block ends."""
    with serve.gunicorn(env=env, workers=workers, timeout=timeout) as server:
        yield server


def children(pid: int) -> set[int]:
    """The PIDs whose parent is ``pid`` (from /proc/*/status): a gunicorn master's workers."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{entry}/status").read_text()
            ppid = re.search(r"^PPid:\s+(\d+)", status, re.M)
            if ppid and int(ppid[1]) == pid:
                found.add(int(entry))
    return found
