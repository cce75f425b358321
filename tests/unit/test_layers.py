"""The layers hold: services and the domain know neither Flask nor SQL, directly or through
another module of the project (the import graph read from the source, not from a run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = {"flask", "flask_restx", "werkzeug", "sqlalchemy", "psycopg", "azure"}
SERVICES = sorted(
    [
        *ROOT.glob("time_tracker_api/**/service.py"),
        ROOT / "time_tracker_api/catalogue.py",
        ROOT / "time_tracker_api/time_entries/queries.py",
        ROOT / "time_tracker_api/time_entries/reports.py",
        ROOT / "time_tracker_api/time_entries/names.py",
        *ROOT.glob("commons/domain/*.py"),
    ]
)


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def path_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports(path: Path) -> set[str]:
    """Every module `path` imports at its top level or in a function (TYPE_CHECKING ones aside)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    guarded = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def frameworks_reached(start: Path) -> dict[str, list[str]]:
    """Framework modules reached from `start` through the project's own modules, with the path."""
    reached: dict[str, list[str]] = {}
    seen: set[Path] = set()
    stack = [(start, [module_of(start)])]
    while stack:
        path, trail = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports(path):
            top = name.split(".")[0]
            if top in FRAMEWORKS:
                reached.setdefault(top, trail + [name])
            target = path_of(name)
            # A package's __init__ (time_tracker_api's builds the app) is not the module itself.
            if target is not None and target.name != "__init__.py":
                stack.append((target, trail + [name]))
    return reached


def test_the_layers_are_found() -> None:
    assert len(SERVICES) >= 10 and all(path.exists() for path in SERVICES)


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_and_the_domain_reach_no_web_framework_and_no_database_driver(path: Path) -> None:
    assert frameworks_reached(path) == {}


def test_the_check_sees_an_import_through_another_module() -> None:
    # resources.py imports flask itself; projects.py reaches it through resources.py.
    assert "flask" in frameworks_reached(ROOT / "time_tracker_api/projects.py")
