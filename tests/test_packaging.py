"""
A wheel builds with the project's own tooling, with and without a C compiler (issue 19).

Each test copies the sources (no build output, no compiled module) to a temporary
directory, builds a wheel there with ``pip wheel`` (the build backend of
pyproject.toml, in pip's isolated build environment), and imports the package from the
unpacked wheel in a fresh interpreter: with a compiler the wheel carries both
accelerators and runs compiled; with ``CC=/bin/false`` (a machine without a compiler)
the build still succeeds and the package runs on its pure-Python path.
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("audit_logging", "pyproject.toml", "setup.py", "setup.cfg", "README.md")
EXTENSIONS = ("audit_logging/_speedups", "audit_logging/_sealing")
SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
PROBE = """
import logging
import sys
# The checkout's editable install would answer for the submodules the wheel lacks.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import audit_logging
from audit_logging import _accel
from audit_logging._integrity.hashing import seal_lines
from audit_logging._records.logrecord import record_to_event
record = logging.LogRecord("app", logging.INFO, "probe.py", 1, "hi %s", ("there",), None)
assert record_to_event(record, "app").payload["message"] == "hi there"
lines, total, leaves = seal_lines(b"s", 0, bytes(32), [b'{"a":1}\\n'], None)
assert lines[0].startswith(b'{"a":1,"integrity":') and len(leaves[0]) == 32
compiled = [m.__file__ for m in (_accel.accelerator, _accel.sealing) if m is not None]
assert all(f.startswith(audit_logging.__path__[0]) for f in compiled), compiled
print(audit_logging.__file__)
print(_accel.path_name(), _accel.sealing is not None)
"""


def _copy_sources(dest: Path) -> Path:
    src = dest / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("*.so", "__pycache__", "*.egg-info", "build")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    return src


def _build_wheel(tmp_path: Path, env: dict[str, str]) -> Path:
    src = _copy_sources(tmp_path)
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        env={**os.environ, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("audit_logging-*.whl")
    return wheel


def _run_from(wheel: Path, tmp_path: Path) -> tuple[str, str]:
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    env = {k: v for k, v in os.environ.items() if k != "AUDIT_LOGGING_PURE"}
    env["PYTHONPATH"] = str(unpacked)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, path = proc.stdout.splitlines()[-2:]
    assert where.startswith(str(unpacked)), where  # the wheel's copy, not the checkout's
    return where, path


def _compiled_members(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(SUFFIXES)]
    return {ext for ext in EXTENSIONS for name in names if name.startswith(ext + ".")}


@pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None, reason="no C compiler"
)
def test_wheel_built_with_a_compiler_carries_both_accelerators(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path, {"AUDIT_LOGGING_REQUIRE_SPEEDUPS": "1"})
    assert _compiled_members(wheel) == set(EXTENSIONS)
    _, path = _run_from(wheel, tmp_path)
    assert path == "compiled True"


def test_wheel_builds_without_a_compiler_and_runs_pure_python(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path, {"CC": "/bin/false", "LDSHARED": "/bin/false"})
    assert _compiled_members(wheel) == set()
    _, path = _run_from(wheel, tmp_path)
    assert path == "pure-python False"
