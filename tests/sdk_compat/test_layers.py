"""The one-way layers: dsl/ (authoring) imports nothing above it — not the client layer, the
compiler, the embedded runner, the REST client or the renderer — not even late, inside a
function. The client layer sits above them all."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "amlcompile"
ABOVE_DSL = ("client", "compiler", "local_run", "embedded", "rest", "render", "discover", "cli")


def _imports(file: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level >= 2:  # `from ..x import` inside amlcompile/dsl/
                found.append((node.lineno, module.split(".")[0]))
            elif module.startswith("amlcompile."):
                found.append((node.lineno, module.split(".")[1]))
            elif module == "amlcompile":
                found.append((node.lineno, "<top-level package>"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("amlcompile."):
                    found.append((node.lineno, alias.name.split(".")[1]))
    return found


def test_dsl_never_imports_upward():
    bad = [
        f"{f.name}:{line} imports {target}"
        for f in sorted((PACKAGE / "dsl").glob("*.py"))
        for line, target in _imports(f)
        if target in ABOVE_DSL or target == "<top-level package>"
    ]
    assert bad == []


def test_client_layer_is_not_imported_by_the_compiler_or_rest():
    for name in ("compiler.py", "local_run.py", "discover.py"):
        targets = {t for _, t in _imports(PACKAGE / name)}
        assert "client" not in targets, name
    for f in (PACKAGE / "rest").glob("*.py"):
        assert "client" not in {t for _, t in _imports(f)} or f.name == "client.py", f.name
