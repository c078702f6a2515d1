"""The package's shape: which modules may import which (ARCHITECTURE.md's rules, kept)."""

from __future__ import annotations

import ast
from pathlib import Path

import faceclust

PACKAGE = Path(faceclust.__file__).parent


def _imports(module: Path) -> set[str]:
    """The faceclust modules ``module`` imports anywhere in it (relative imports); the
    ``library`` package's modules name the modules above them, not each other."""
    depth = 1 + (module.parent != PACKAGE)
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == depth:
            found.add(node.module or node.names[0].name)
    return found


GRAPH = {path.stem: _imports(path) for path in PACKAGE.glob("*.py")}
GRAPH["library"] = set().union(*(_imports(path) for path in (PACKAGE / "library").glob("*.py")))


def _reaches(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for name in GRAPH.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def test_the_face_table_stands_alone_and_export_and_cache_do_not_need_extraction():
    assert _reaches("table") == set()
    for module in ("export", "cache", "evaluate", "reel"):
        assert "extract" not in _reaches(module), module


def test_no_stage_reaches_up_to_the_pipeline_or_the_command_line():
    for module in GRAPH.keys() - {"pipeline", "batch", "cli", "__init__"}:
        assert not {"pipeline", "batch", "cli"} & _reaches(module), module


def test_only_the_dashboard_imports_streamlit():
    for path in [*PACKAGE.glob("*.py"), *(PACKAGE / "library").glob("*.py")]:
        assert "streamlit" not in path.read_text(), path.name
