"""
Tests for the ``audit-logging`` command line entry points (``--help`` lists every command).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

COMMANDS = ("demo", "query", "replay-spill", "tail", "stats")


def _console_script() -> str:
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("audit-logging", path=folder)
        if found:
            return found
    pytest.fail("the audit-logging console script is not installed (pip install -e .)")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.timeout(60)
def test_python_m_help_lists_commands() -> None:
    """`python -m audit_logging --help` exits 0 and lists every command."""
    done = _run([sys.executable, "-m", "audit_logging", "--help"])
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)


@pytest.mark.timeout(60)
def test_console_script_help_lists_commands() -> None:
    """The installed `audit-logging --help` exits 0 and lists every command."""
    done = _run([_console_script(), "--help"])
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)
    assert "audit-logging" in done.stdout


@pytest.mark.timeout(60)
def test_unknown_command_fails() -> None:
    """An unknown command exits non-zero with a usage message on stderr."""
    done = _run([sys.executable, "-m", "audit_logging", "no-such-command"])
    assert done.returncode != 0
    assert "usage" in done.stderr.lower()
