"""The package's shape: which modules may import which (ARCHITECTURE.md's rules, kept)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import TOP

import faceclust
import faceclust.library

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


DASHBOARD = PACKAGE / "dashboard"


def _defined(module: Path) -> set[str]:
    """Public names a module defines itself (functions, classes, constants; not its imports)."""
    names = set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {name for name in names if not name.startswith("_")}


#: What the dashboard may use of the library, by the name it imports it under: the package's
#: public names, the people library's, its search's and the parameter ranges.
PUBLIC = {
    "fc": set(faceclust.__all__),
    "library": {*faceclust.library.__all__, "search"},
    "search": _defined(PACKAGE / "library" / "search.py"),
    "ranges": _defined(PACKAGE / "ranges.py"),
    "folders": _defined(PACKAGE / "folders.py"),
}


def test_the_dashboard_uses_only_the_library_s_public_api():
    """Pages and their helpers import the package, the people library, its search, the ranges and
    the run and batch folders' contract, nothing deeper, and use only their public names (a page
    reaching into a stage module breaks when the stage changes)."""
    for path in [
        *DASHBOARD.glob("*.py"),
        *(DASHBOARD / "views").glob("*.py"),
        TOP / "app.py",  # streamlit run app.py: its router and pages/
        *(TOP / "pages").glob("*.py"),
    ]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("faceclust"):
                assert node.module in {"faceclust", "faceclust.library", "faceclust.dashboard"} or (
                    node.module.startswith("faceclust.dashboard")
                ), (path.name, node.module)
                if node.module in {"faceclust", "faceclust.library"}:
                    allowed = {"folders", "library", "ranges", "search"}
                    assert {a.name for a in node.names} <= allowed, path.name
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                used = node.value.id
                assert used not in PUBLIC or node.attr in PUBLIC[used], (path.name, f"{used}.{node.attr}")
