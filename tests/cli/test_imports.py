"""
Tests for the imports of audit_logging._cli: the command line uses the sinks only through
what each sink package states as its API, never through a sink's own modules.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import audit_logging

CLI = Path(audit_logging.__file__).parent / "_cli"
SINK_PACKAGES = {"database", "file", "kafka"}


def _sink_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) of every import in ``path`` that reaches a sink or a public face."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
    return [
        (module, name)
        for module, name in found
        if module.startswith(("audit_logging._sinks", "audit_logging.sinks"))
    ]


def _allowed(module: str, name: str | None) -> bool:
    if module == "audit_logging._sinks":
        return name in SINK_PACKAGES
    package = module.removeprefix("audit_logging._sinks.")
    if package not in SINK_PACKAGES:
        return False  # a sink's own module, or a public face
    return name is None or name in importlib.import_module(module).__all__


def test_the_command_line_imports_only_the_sinks_package_apis() -> None:
    """Every sink the command line imports is a sink package, and every name it takes from
    one is in that package's __all__; no module of it imports a public face."""
    bad = [
        f"{path.name}: {module} {name}"
        for path in sorted(CLI.glob("*.py"))
        for module, name in _sink_imports(path)
        if not _allowed(module, name)
    ]
    assert bad == []
