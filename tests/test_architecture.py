"""
The shape of the package, checked on every run: the layers contract, no import
cycles, small modules, thin public faces, docstrings in the repository's own
words, and the linters and type checker the README promises are clean.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "audit_logging"
MAX_LINES = 500

# Public modules kept as thin faces over the private layer packages.
FACES = [
    "bus.py",
    "bus_config.py",
    "events.py",
    "factories.py",
    "payloads.py",
    "schemas.py",
    "context.py",
    "sanitize.py",
    "crypto.py",
    "access.py",
    "metrics.py",
    "spillover.py",
    "stdlib.py",
    "structlog.py",
    "config.py",
    "middleware.py",
    "cli.py",
    "integrity.py",
    "collector.py",
    "contrib/django/__init__.py",
    "contrib/django/apps.py",
    "contrib/flask.py",
    "contrib/gunicorn.py",
    "contrib/sqlalchemy.py",
    "sinks/__init__.py",
    "sinks/file.py",
    "sinks/database.py",
    "sinks/kafka.py",
    "sinks/otlp.py",
    "formatters.py",
]

# Documents that are not in the repository, and the banner comments the house style forbids.
FOREIGN_REFERENCES = re.compile(r"\[Go:|API §|RELIABILITY\.md|ECOSYSTEM\.md|STYLE\.md|API\.md")
BANNER = re.compile(r"^\s*#\s*(?:-{2,}|={3,}|\*{3,})")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (it comes with the 'test' extra)")
    return path


@pytest.mark.timeout(120)
def test_import_contracts_hold() -> None:
    """lint-imports keeps every contract in setup.cfg: the layers, no cycles, no optional deps."""
    done = _run(_tool("lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " 0 broken" in done.stdout


@pytest.mark.timeout(300)
def test_mypy_strict_is_clean() -> None:
    """mypy --strict finds nothing in the package."""
    _tool("mypy")
    done = _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "audit_logging")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.timeout(120)
def test_ruff_is_clean() -> None:
    """ruff check and ruff format --check find nothing in the repository."""
    ruff = _tool("ruff")
    check = _run(ruff, "check", "--no-cache", ".")
    assert check.returncode == 0, check.stdout[-4000:]
    fmt = _run(ruff, "format", "--check", "--no-cache", ".")
    assert fmt.returncode == 0, fmt.stdout[-4000:]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small(path: Path) -> None:
    """No module is over 500 lines: one responsibility each."""
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_text_cites_only_the_repository(path: Path) -> None:
    """No docstring or comment cites a document outside the repository; no banner comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    foreign = [
        f"{n}: {line.strip()}" for n, line in enumerate(lines, 1) if FOREIGN_REFERENCES.search(line)
    ]
    banners = [f"{n}: {line.strip()}" for n, line in enumerate(lines, 1) if BANNER.match(line)]
    assert foreign == []
    assert banners == []


@pytest.mark.parametrize("face", FACES)
def test_public_face_is_thin(face: str) -> None:
    """A public module only re-exports from the private layers: a docstring, imports and __all__."""
    tree = ast.parse((PACKAGE / face).read_text(encoding="utf-8"))
    body = tree.body
    assert isinstance(body[0], ast.Expr)
    assert isinstance(body[0].value, ast.Constant)
    for node in body[1:]:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.ImportFrom):
            assert node.module is not None
            assert node.module.startswith(("audit_logging._", "audit_logging.exceptions"))
            assert (
                node.module.split(".")[1] in {"exceptions"} or node.module.split(".")[1][0] == "_"
            )
            continue
        assert isinstance(node, ast.Assign), ast.dump(node)[:200]
        assert [getattr(t, "id", None) for t in node.targets] == ["__all__"]
