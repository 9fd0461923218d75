"""
Flask with flask-login behind its real development server (a subprocess): what reaches the
file sink for a failed login, a login, an authenticated request and a logout, with the
actor, the client IP with and without a trusted proxy, the user agent and one context id
per request. The server is stopped with SIGTERM; the sink's file is read once it exited
(the bus closes on the way out), so nothing is timed.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask_login")

from tests.instrument._servers import ROOT, _wait_ready, free_port

pytestmark = pytest.mark.timeout(120)

UA = "curl-ish/8.0"


def _request(
    con: http.client.HTTPConnection, method: str, path: str, body: str = "", **headers: str
) -> Any:
    sent = {"User-Agent": UA, "X-Forwarded-For": "203.0.113.9", **headers}
    if body:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    con.request(method, path, body=body, headers=sent)
    response = con.getresponse()
    response.read()
    return response


def _serve(tmp_path: Path, trusted: str | None) -> list[dict[str, Any]]:
    port = free_port()
    trail = tmp_path / "audit.jsonl"
    command = [sys.executable, "-m", "tests.instrument._flask_shop", str(port), str(trail)]
    if trusted:
        command.append(trusted)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_ready(port, proc)
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        assert _request(con, "POST", "/login", "username=mallory&password=x").status == 401
        ok = _request(con, "POST", "/login", "username=alice&password=wonderland")
        assert ok.status == 200
        cookie = ok.getheader("Set-Cookie").split(";", 1)[0]
        assert _request(con, "GET", "/items/7", Cookie=cookie).status == 200
        assert _request(con, "POST", "/logout", Cookie=cookie).status == 200
        # Keep-alive: this answer means the logout's response was closed and published.
        assert _request(con, "GET", "/items/0", **{"X-Request-ID": "sync"}).status == 401
        con.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 143), err.decode(errors="replace")[-2000:]
    lines = [json.loads(line) for line in trail.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line["context_id"] != "sync"]


@pytest.mark.parametrize(
    ("trusted", "client_ip"), [(None, "127.0.0.1"), ("127.0.0.1", "203.0.113.9")]
)
def test_real_server_writes_auth_events_actor_and_origin(
    tmp_path: Path, trusted: str | None, client_ip: str
) -> None:
    """Four requests, twelve lines; each request one context id; the IP as the proxy rule says."""
    lines = _serve(tmp_path, trusted)
    requests: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        requests.setdefault(line["context_id"], []).append(line)
    assert [[line["type"] for line in group] for group in requests.values()] == [
        ["http_request_received", "auth_login_failed", "http_response_sent"],
        ["http_request_received", "auth_login", "http_response_sent"],
        ["http_request_received", "http_response_sent"],
        ["http_request_received", "auth_logout", "http_response_sent"],
    ]
    failed, login, item, logout = requests.values()
    assert failed[1]["payload"] == {"username": "mallory", "reason": "invalid credentials"}
    assert "actor" not in failed[1]
    alice = {"user_id": "1", "username": "alice", "auth_method": "password"}
    assert login[1]["actor"] == alice
    assert login[1]["payload"] == {"user_id": "1"}
    assert item[1]["actor"] == {**alice, "auth_method": "session"}
    assert logout[1]["actor"] == {**alice, "auth_method": "session"}
    assert "actor" not in logout[2]
    for line in lines:
        origin = line["origin"]
        assert origin["client_ip"] == client_ip
        assert origin["user_agent"] == UA
    assert item[1]["origin"]["route"] == "/items/<item_id>"
