"""The direction of imports: ``app`` uses ``model``, never the other way; no module imports one
that imports it back (imports inside functions included); tests, scripts and benchmarks stay apart."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGES = ("app", "model", "scripts", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, as import-linter counts them: ``from pkg import
    mod`` is an import of ``pkg.mod`` when that is a module, else of ``pkg``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if is_module(submodule) else node.module)
    return found


def project_graph(packages: tuple[str, ...] = (*PACKAGES, "tests")) -> dict[str, set[str]]:
    paths = [p for package in packages for p in (ROOT / package).rglob("*.py")]
    modules = {module_name(p): p for p in paths} | {"wsgi": ROOT / "wsgi.py"}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A chain of imports that leads from ``start`` back to it, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, chain = stack.pop()
        for target in graph[node]:
            if target == start:
                return [*chain, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*chain, target]))
    return None


def test_no_module_imports_itself_back():
    graph = project_graph()
    cycles = [c for c in (cycle_from(graph, name) for name in sorted(graph)) if c]
    assert not cycles, [" -> ".join(c) for c in cycles]


def test_the_cycle_finder_finds_one():
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": set()}, "a") is None


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("model", ("flask", "werkzeug", "gunicorn", "app", "tests")),
        ("app", ("tests", "matplotlib", "model.figures", "model.train")),
        ("scripts", ("tests",)),
        ("benchmarks", ("tests",)),
    ],
)
def test_imports_go_one_way(package, forbidden):
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in imports_of(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }
    assert not offenders


def test_no_test_module_imports_another():
    offenders = {
        f"{name} imports {target}"
        for name, targets in project_graph(("tests",)).items()
        for target in targets
        if target.startswith("tests.test_") or target == "tests.conftest"
    }
    assert not offenders
