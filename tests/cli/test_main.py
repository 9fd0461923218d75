"""
Tests for audit_logging._cli.main: the command and its console script list every command,
an unknown one fails with a usage message, each command documents its options.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.cli._support import COMMANDS, cli, run


def console_script() -> str:
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("audit-logging", path=folder)
        if found:
            return found
    pytest.fail("the audit-logging console script is not installed (pip install -e .)")


@pytest.mark.timeout(60)
def test_python_m_help_lists_commands() -> None:
    """`python -m audit_logging --help` exits 0 and lists every command."""
    done = run([sys.executable, "-m", "audit_logging", "--help"])
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)


@pytest.mark.timeout(60)
def test_console_script_help_lists_commands() -> None:
    """The installed `audit-logging --help` exits 0 and lists every command."""
    done = run([console_script(), "--help"])
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)
    assert "audit-logging" in done.stdout


@pytest.mark.timeout(60)
def test_unknown_command_fails() -> None:
    """An unknown command exits non-zero with a usage message on stderr."""
    done = run([sys.executable, "-m", "audit_logging", "no-such-command"])
    assert done.returncode != 0
    assert "usage" in done.stderr.lower()


@pytest.mark.timeout(60)
def test_subcommand_help_lists_options(tmp_path: Path) -> None:
    """`query --help` documents the filters and output options."""
    done = cli(tmp_path, "query", "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--db", "--type", "--context-id", "--source", "--since", "--until", "--json"):
        assert option in done.stdout
