"""Write the README's tables that come from the code: the API's errors, the app's settings and metrics.

    python scripts/readme_tables.py           rewrite them in README.md
    python scripts/readme_tables.py --check   exit 1 if README.md differs from what the code says

Each table sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in README.md; the
errors come from ``app.errors.ERRORS``, the settings from ``app.settings.SETTINGS`` and the
metrics from ``app.prometheus.METRICS``, so each
fact is written once, in the code. ``tests/test_readme.py`` runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from itertools import groupby
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from app.errors import ERRORS  # noqa: E402
from app.prometheus import METRICS  # noqa: E402
from app.settings import SETTINGS  # noqa: E402
from model import cli  # noqa: E402
from model.fileio import atomic_write  # noqa: E402

README = ROOT / "README.md"


def errors_table() -> str:
    """One row per HTTP status: its codes and what each means."""
    rows = ["| status | code | when |", "| --- | --- | --- |"]
    for status, group in groupby(sorted(ERRORS, key=lambda e: e.status), key=lambda e: e.status):
        for error in group:
            rows.append(f"| {status} | `{error.code}` | {error.meaning} |")
    return "\n".join(rows)


def settings_table() -> str:
    """One row per ``DIGITS_*`` variable: its default and meaning."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{s.env}` | {s.shown_default} | {s.description} |" for s in SETTINGS]
    return "\n".join(rows)


def metrics_table() -> str:
    """One row per metric of ``GET /metrics``: its type, labels and meaning."""
    rows = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    rows += [
        f"| `{m.name}` | {m.kind.__name__.lower()} | {', '.join(f'`{label}`' for label in m.labels)} | {m.meaning} |"
        for m in METRICS
    ]
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {"errors": errors_table, "settings": settings_table, "metrics": metrics_table}


def render(readme: str) -> str:
    """``readme`` with every generated table replaced by what the code says now."""
    for name, table in TABLES.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.DOTALL)
        found = pattern.search(readme)
        if found is None:
            raise SystemExit(f"README.md has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
        readme = readme[: found.end(1)] + table() + "\n" + readme[found.start(2) :]
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/readme_tables.py", description=cli.description(__doc__))
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when README.md is out of date")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("README.md's tables differ from the code: run python scripts/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        with atomic_write(README, "w") as f:
            f.write(wanted)
        print("rewrote the tables in README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
