"""
Every dependency the package declares is imported by it: the core dependencies and each
runtime extra (not ``test`` and ``dev``, which are tools). A dependency nobody imports only
costs an install, as concurrent-log-handler and python-json-logger once did in ``file``.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

import audit_logging

ROOT = Path(audit_logging.__file__).resolve().parent.parent
PACKAGE = ROOT / "audit_logging"
TOOL_EXTRAS = {"test", "dev"}

# Distribution name (normalised) -> the top-level module the package imports.
IMPORT_NAMES = {
    "opentelemetry-api": "opentelemetry",
    "opentelemetry-sdk": "opentelemetry",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry",
    "prometheus-client": "prometheus_client",
    "cryptography": "cryptography",
    "orjson": "orjson",
    "uuid-utils": "uuid_utils",
    "portalocker": "portalocker",
    "sqlalchemy": "sqlalchemy",
    "psycopg": "psycopg",
    "pymysql": "pymysql",
    "kafka-python": "kafka",
    "murmurhash2": "murmurhash2",
    "confluent-kafka": "confluent_kafka",
    "structlog": "structlog",
    "django": "django",
    "flask": "flask",
    "rich": "rich",
    "concurrent-log-handler": "concurrent_log_handler",
    "python-json-logger": "pythonjsonlogger",
}


def _distribution(requirement: str) -> str:
    """``psycopg[binary]>=3.1; python_version > '3'`` -> ``psycopg`` (PEP 503 normalised)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(1)).lower()


def _declared() -> dict[str, list[str]]:
    """Where each runtime dependency is declared: distribution -> ["core"] or extra names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"core": project["dependencies"]}
    groups.update(
        (extra, requirements)
        for extra, requirements in project["optional-dependencies"].items()
        if extra not in TOOL_EXTRAS
    )
    declared: dict[str, list[str]] = {}
    for group, requirements in groups.items():
        for requirement in requirements:
            dist = _distribution(requirement)
            if dist != "audit-logging":  # an extra made of other extras
                declared.setdefault(dist, []).append(group)
    return declared


@functools.cache
def _imported_top_level() -> frozenset[str]:
    """Every top-level module an ``import`` in the package names (in functions too)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return frozenset(names)


@functools.cache
def _providers() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


DECLARED = _declared()


def test_every_declared_dependency_has_a_known_import_name() -> None:
    """A new dependency is added to IMPORT_NAMES here, so the next test can check it."""
    assert sorted(set(DECLARED) - set(IMPORT_NAMES)) == []


@pytest.mark.parametrize("dist", sorted(DECLARED))
def test_every_declared_dependency_is_imported_by_the_package(dist: str) -> None:
    """Each core dependency and each package of a runtime extra is imported somewhere."""
    module = IMPORT_NAMES.get(dist)
    assert module in _imported_top_level(), (
        f"{dist} is declared in {', '.join(DECLARED[dist])} but audit_logging never imports "
        f"{module}: remove it, or say in pyproject.toml why it must stay"
    )


@pytest.mark.parametrize("dist", sorted(DECLARED))
def test_the_import_name_belongs_to_the_distribution(dist: str) -> None:
    """Where the distribution is installed, it really provides the module IMPORT_NAMES says."""
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{dist} is not installed here")
    providers = _providers().get(IMPORT_NAMES[dist], [])
    assert dist in {_distribution(p) for p in providers}
