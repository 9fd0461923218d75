"""
``import audit_logging`` works with only the core dependencies installed.

Each check runs in a fresh, isolated interpreter (``python -I``) whose import
system refuses every optional dependency, so the test means the same thing in
a full development environment as in tox's ``minimal`` env (no extras).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import audit_logging

OPTIONAL = (
    "sqlalchemy",
    "psycopg",
    "pymysql",
    "kafka",
    "confluent_kafka",
    "structlog",
    "concurrent_log_handler",
    "pythonjsonlogger",
    "django",
    "flask",
    "flask_login",
    "rich",
)

# Modules that may import an optional dependency at import time.
NOT_CORE = (
    "audit_logging.sinks",
    "audit_logging._sinks",
    "audit_logging.structlog",
    "audit_logging._bridges.processor",
    "audit_logging.config",
    "audit_logging._bridges.setup",
    # python-json-logger's JsonFormatter is the base class (the json-formatter extra).
    "audit_logging._bridges.jsonformat",
    "audit_logging.formatters",
    # An AppConfig subclass needs Django at import; Django imports it, nobody else does.
    "audit_logging._instrument.django.apps",
    "audit_logging.contrib.django.apps",
)

_BLOCKER = f"""
import importlib.abc
import sys

BLOCKED = {OPTIONAL!r}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None


sys.meta_path.insert(0, Blocker())
try:
    import sqlalchemy  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("blocker did not work")
"""


def _run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", _BLOCKER + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _core_modules() -> list[str]:
    package_dir = str(Path(audit_logging.__file__).parent)
    names = [
        info.name
        for info in pkgutil.walk_packages([package_dir], prefix="audit_logging.")
        if info.name != "audit_logging.__main__"
    ]
    return sorted(n for n in names if not n.startswith(NOT_CORE))


@pytest.mark.timeout(120)
def test_import_without_optional_dependencies() -> None:
    """`import audit_logging` succeeds when no optional dependency can be imported."""
    done = _run_blocked(
        "import audit_logging\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)\n"
        "assert not loaded, loaded\n"
        "print(audit_logging.__version__)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == audit_logging.__version__


@pytest.mark.timeout(120)
def test_core_modules_import_without_optional_dependencies() -> None:
    """Every core module (all but sinks, structlog and config) imports without optional deps."""
    modules = _core_modules()
    assert "audit_logging.events" in modules
    done = _run_blocked(
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
