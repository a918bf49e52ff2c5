"""What every command line of the project shares: ``run(main)``, its ``__main__`` entry.

    if __name__ == "__main__":
        raise SystemExit(cli.run(main))

A command whose output pipe closes early (``python -m model.evaluate ... | head -2``) stops
quietly, as Unix tools do, instead of printing a BrokenPipeError traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

# What a shell reports for a program that SIGPIPE ended: 128 + the signal's number.
BROKEN_PIPE_STATUS = 128 + signal.SIGPIPE


def run(main: Callable[[], int]) -> int:
    """``main()``'s exit status, or ``BROKEN_PIPE_STATUS`` when its output pipe closed."""
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows here for output still in the buffer
        return status
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE_STATUS


def description(doc: str | None) -> str:
    """A module docstring's first paragraph as ``--help`` shows it: one line, no ``code`` markup."""
    first = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split()).replace("``", "")


def number(kind: type, *, zero_allowed: bool = False) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float) above zero, or at least zero; NaN never."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value >= 0 if zero_allowed else value > 0):  # NaN fails both
            raise argparse.ArgumentTypeError(f"must be {'zero or more' if zero_allowed else 'positive'}, got {text}")
        return value

    return parse
