"""
The examples run, and the events they produce arrive in the real sinks.

Flask, dictConfig and structlog examples run in this process; the Django one
runs in a subprocess because ``django.setup()`` configures process-wide state
(settings, logging) once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


pytestmark = pytest.mark.usefixtures("isolated_handlers")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events if not e["type"].startswith("audit_")]


@pytest.mark.timeout(60)
def test_dictconfig_example_stores_in_file_and_database(tmp_path: Path) -> None:
    """The dictConfig example's records reach the JSON file and the SQLite table."""
    result = _load("dictconfig_example").main(str(tmp_path))
    assert _types(result["file"]) == ["log_info", "auth_login", "log_error"]
    assert {"log_info", "auth_login", "log_error"} <= set(result["db_types"])
    assert {e["context_id"] for e in result["file"] if e["source"] == "shop.orders"} == {"req-1001"}
    assert b"s3cr3t" not in (tmp_path / "audit.jsonl").read_bytes()


@pytest.mark.timeout(60)
def test_structlog_example_binds_request_id(tmp_path: Path) -> None:
    """The structlog example's entries carry the bound request id."""
    result = _load("structlog_example").main(str(tmp_path))
    events = [e for e in result["file"] if e["source"] == "billing"]
    assert [e["type"] for e in events] == ["log_info", "user_logged_in", "log_error"]
    assert {e["context_id"] for e in events} == {"req-77"}
    assert events[2]["payload"]["error"] == "RuntimeError: SMTP refused: password=****"


@pytest.mark.timeout(60)
def test_flask_app_with_test_client(tmp_path: Path) -> None:
    """Flask requests give HTTP events, log events and the domain event in the sinks."""
    flask_app = _load("flask_app")
    app = flask_app.create_app(str(tmp_path))
    client = app.test_client()
    with client.get("/items/7", headers={"X-Request-ID": "rid-7"}) as response:
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == "rid-7"
    client.get("/nowhere").close()
    client.delete("/login").close()
    from audit_logging._engine.registry import get_bus

    get_bus(flask_app.BUS_NAME).close()
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    first = [e for e in events if e["context_id"] == "rid-7"]
    assert _types(first) == ["http_request_received", "log_info", "http_response_sent"]
    assert first[1]["payload"]["fields"] == {"item_id": "7"}
    types = _types(events)
    assert "http_route_not_found" in types
    assert "http_method_not_allowed" in types
    with sqlite3.connect(tmp_path / "audit.db") as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM audit WHERE type LIKE 'http_%'").fetchone()
    assert rows == 8


@pytest.mark.timeout(90)
def test_django_project_with_test_client(tmp_path: Path) -> None:
    """Django (LOGGING + middleware) stores HTTP, log and domain events; secrets masked."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "django_project" / "run.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=80,
        env=env,
        check=True,
    ).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["subscriptions"] == ["file", "db"]  # Django's two dictConfig calls
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    by_request = [e for e in events if e["context_id"] == "req-django-1"]
    assert _types(by_request) == ["http_request_received", "log_info", "http_response_sent"]
    types = _types(events)
    for expected in ("http_route_not_found", "http_method_not_allowed", "auth_login", "log_error"):
        assert expected in types
    server_error = next(e for e in events if e["type"] == "log_error")
    assert server_error["payload"]["fields"]["request"] == "GET /boom"
    assert "****" in server_error["payload"]["error"]
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db_types = [r[0] for r in db.execute("SELECT type FROM audit")]
    # Same events in both sinks (the bus's own lifecycle events aside: the database
    # may be subscribed after the bus announced itself).
    assert sorted(_types([{"type": t} for t in db_types])) == sorted(types)
    assert summary["db_rows"] == len(db_types)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cr3t" not in path.read_bytes()
