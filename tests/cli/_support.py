"""
What the command-line tests share: running ``audit-logging`` as a user would (a subprocess in
a temporary working directory) and checking that an error is one clear line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import audit_logging

COMMANDS = ("demo", "query", "replay-spill", "tail", "stats", "setup-db", "collect")


# Subprocesses import the package under test, whatever else is installed.
ENV = {
    **os.environ,
    "COLUMNS": "200",
    "PYTHONPATH": os.pathsep.join(
        p
        for p in (str(Path(audit_logging.__file__).parent.parent), os.environ.get("PYTHONPATH"))
        if p
    ),
}


DEMO_EVENTS = 60


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env=ENV
    )


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "audit_logging", *args], cwd=cwd)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_clear_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "error:" in lines[0]
    for word in words:
        assert word in lines[0]


def db_rows(cwd: Path) -> list[tuple[str, str, str, str]]:
    con = sqlite3.connect(cwd / "audit-demo" / "audit.db")
    try:
        return con.execute("SELECT id, type, context_id, payload FROM audit").fetchall()
    finally:
        con.close()
