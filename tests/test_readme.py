"""The README's generated tables say what the code says (scripts/readme_tables.py), and the tests
it names exist."""

from __future__ import annotations

import ast
import re

import pytest

from app.errors import ERRORS
from app.settings import SETTINGS
from scripts import readme_tables
from tests.support.paths import ROOT


def test_the_readme_tables_are_up_to_date():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_tables.render(readme) == readme, "run python scripts/readme_tables.py"


@pytest.mark.parametrize(("table", "rows"), [("errors", ERRORS), ("settings", SETTINGS)])
def test_each_table_has_a_row_per_fact(table, rows):
    lines = readme_tables.TABLES[table]().splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines)


def test_a_changed_fact_makes_the_readme_out_of_date(monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    monkeypatch.setitem(readme_tables.TABLES, "errors", lambda: "| status | code | when |\n| 999 | `new` | x |")
    assert readme_tables.render(readme) != readme


def test_check_fails_on_a_stale_readme(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "README.md"
    stale.write_text((ROOT / "README.md").read_text(encoding="utf-8").replace("`no_digit`", "`no_digits`"))
    monkeypatch.setattr(readme_tables, "README", stale)
    assert readme_tables.main(["--check"]) == 1
    assert "run python scripts/readme_tables.py" in capsys.readouterr().err
    assert readme_tables.main([]) == 0
    assert readme_tables.main(["--check"]) == 0


def test_every_test_the_readme_names_exists():
    """A README row that says "tested in `test_x.py` (`test_y`)" must point at a real test."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    modules = set(re.findall(r"`(test_\w+\.py)`", readme))
    functions = set(re.findall(r"\(`(test_\w+)`\)", readme))  # a test named in brackets after its module
    assert modules and functions
    defined = {
        node.name
        for path in (ROOT / "tests").glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    assert sorted(m for m in modules if not (ROOT / "tests" / m).is_file()) == []
    assert sorted(functions - defined) == []
