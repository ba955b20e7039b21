"""The import arrows point down (../shared/ARCHITECTURE.md): a contract test over the package's own imports.

Each rule names what a layer must not import; a new arrow that breaks one fails here with the module and the
line, long before it tangles the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT_DIR

PACKAGE = PROJECT_DIR / "marketplace"
# Modules at the top of the package that import nothing else from it: anyone may use them.
LEAVES = {"settings", "shipped", "platform_urls", "outbound", "clock", "keyed", "logs", "metrics"}
ABOVE_THE_DOMAIN = {"web", "sandbox", "app", "cli", "asgi"}
FORBIDDEN: dict[str, set[str]] = {
    "store": {"catalog", "lti", "grading", "portfolio", "settings"} | ABOVE_THE_DOMAIN,
    "catalog": {"lti", "grading", "portfolio"} | ABOVE_THE_DOMAIN,
    "lti": {"grading", "portfolio"} | ABOVE_THE_DOMAIN,
    "grading": {"portfolio"} | ABOVE_THE_DOMAIN,
    "portfolio": {"grading"} | ABOVE_THE_DOMAIN,
    "web": {"sandbox", "app", "cli", "asgi"},
}


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, first name under marketplace) of every absolute import of the package in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "marketplace":
                names = [f"marketplace.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "marketplace" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        for line, target in _imports(path):
            if target == layer:
                continue
            # A leaf may use other leaves (the clock, where the shipped files are) and nothing else of the package.
            wrong = target not in LEAVES if layer in LEAVES else target in FORBIDDEN.get(layer, set())
            if wrong:
                problems.append(f"{path.relative_to(PROJECT_DIR)}:{line}: {layer} imports {target}")
    return problems


def test_the_import_arrows_point_down() -> None:
    assert _violations() == []


def test_the_check_sees_a_wrong_arrow() -> None:
    """The rule is not vacuous: the imports it reads are the package's real ones."""
    edges = {(_layer(path), target) for path in PACKAGE.rglob("*.py") for _, target in _imports(path)}
    assert ("web", "catalog") in edges and ("grading", "store") in edges
    assert ("store", "catalog") not in edges and ("catalog", "lti") not in edges


def test_no_view_module_imports_another() -> None:
    """Views share page helpers (`web/*_pages.py`), never each other: a view reads the request, calls the
    domain, and renders."""
    problems = []
    for path in sorted((PACKAGE / "web").glob("*_views.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                if any(target.startswith("marketplace.web.") and target.endswith("_views") for target in targets):
                    problems.append(f"{path.relative_to(PROJECT_DIR)}:{node.lineno}")
    assert problems == []


def _web_database_work(source: str) -> list[str]:
    """Lines of a web module that open a session or run SQL themselves (the domain's service functions do)."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, node.func.value
            opens_session = name == "sessions" or (isinstance(owner, ast.Attribute) and owner.attr == "sessions"
                                                    and name == "begin")
            runs_sql = isinstance(owner, ast.Name) and owner.id == "session" and name in {
                "get", "scalar", "scalars", "execute", "commit", "add", "flush", "delete"}
            if opens_session or runs_sql:
                found.append(f"{node.lineno}: {ast.unparse(node.func)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"select", "update"}:
            found.append(f"{node.lineno}: {node.func.id}")
    return found


def test_web_modules_open_no_session_and_run_no_sql() -> None:
    """Transactions and queries live in the domain packages; web/ reads the request, calls one service
    function and renders. (The grading worker's wiring in app.py is not a web module.)"""
    problems = [f"{path.relative_to(PROJECT_DIR)}:{line}" for path in sorted((PACKAGE / "web").glob("*.py"))
                for line in _web_database_work(path.read_text(encoding="utf-8"))]
    assert problems == []


def test_the_web_check_sees_database_work() -> None:
    sample = ("def view(request):\n    with services(request).sessions() as session:\n"
              "        row = session.get(Row, 1)\n        session.commit()\n    return select(Row)\n")
    assert len(_web_database_work(sample)) == 4
