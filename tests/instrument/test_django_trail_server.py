"""
The Django audit trail through a real server: ``manage.py runserver --noreload``
of the project in tests/instrument/_django_project.py, behind a "proxy" (the
test, trusted by ``AUDIT_TRUSTED_PROXIES``) that sends ``X-Forwarded-For``,
driven over HTTP with cookies and CSRF tokens as a browser would, stopped by
SIGTERM (``AUDIT_CLOSE_ON_SIGTERM``), then the file sink read.

runserver is a server command: its bus keeps the lifecycle events.
"""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.instrument import _django_project as project
from tests.instrument._servers import _wait_ready, free_port

pytest.importorskip("django")
pytest.importorskip("rest_framework")

pytestmark = pytest.mark.timeout(240)

CLIENT_IP = "198.51.100.23"
AGENT = "Mozilla/5.0 (trail-test)"


class Browser:
    """Cookies, CSRF tokens, one request id per request; redirects are not followed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        rid: str,
        form: dict[str, Any] | None = None,
        *,
        proxied: bool = True,
    ) -> Any:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {
            "X-Request-ID": rid,
            "User-Agent": AGENT,
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        if proxied:
            headers["X-Forwarded-For"] = CLIENT_IP
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        con.request(method, path, body=body, headers=headers)
        response = response_of(con)
        for header in response.msg.get_all("Set-Cookie") or ():
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def csrf(self, path: str, rid: str) -> str:
        page = self.request("GET", path, rid)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, page.text[:500]
        return match.group(1)


def response_of(con: http.client.HTTPConnection) -> Any:
    response = con.getresponse()
    response.text = response.read().decode("utf-8", "replace")
    con.close()
    return response


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Serve the project with runserver, drive it, SIGTERM it, read the sink."""
    site = project.build(tmp_path_factory.mktemp("server-site"))
    audit = site / "server.jsonl"
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    env = project.env(site, audit, TRUSTED="127.0.0.1")
    proc = subprocess.Popen(
        command, cwd=site, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_ready(port, proc)
        drive(Browser(port))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = project.events(audit)
    # SIGTERM ends runserver (exit status 143 or -15); the closed bus is what matters.
    assert events, err.decode()[-3000:]
    assert events[-1]["type"] == "audit_bus_stopped", err.decode()[-3000:]
    return events


def drive(browser: Browser) -> None:
    """Failed login, login, admin add/change/delete, 404, logout."""
    token = browser.csrf("/accounts/login/", "login-page")
    bad = {"username": "eve", "password": "wrong", "csrfmiddlewaretoken": token}
    assert browser.request("POST", "/accounts/login/", "login-bad", bad).status == 200
    good = {"username": "admin", "password": "admin-pw", "csrfmiddlewaretoken": token}
    assert browser.request("POST", "/accounts/login/", "login-ok", good).status == 302
    token = browser.csrf("/admin/shop/product/add/", "add-page")
    form = {"name": "Desk", "price": "120.00", "views": "0", "csrfmiddlewaretoken": token}
    assert browser.request("POST", "/admin/shop/product/add/", "admin-add", form).status == 302
    token = browser.csrf("/admin/shop/product/1/change/", "change-page")
    form = {"name": "Desk", "price": "99.50", "views": "0", "csrfmiddlewaretoken": token}
    url = "/admin/shop/product/1/change/"
    assert browser.request("POST", url, "admin-change", form).status == 302
    token = browser.csrf("/admin/shop/product/1/delete/", "delete-page")
    form = {"post": "yes", "csrfmiddlewaretoken": token}
    url = "/admin/shop/product/1/delete/"
    assert browser.request("POST", url, "admin-delete", form).status == 302
    assert browser.request("GET", "/missing", "not-found").status == 404
    assert browser.request("GET", "/accounts/login/", "direct", proxied=False).status == 200
    token = browser.cookies["csrftoken"]
    form = {"csrfmiddlewaretoken": token}
    assert browser.request("POST", "/accounts/logout/", "logout", form).status == 200


def of(trail: list[dict[str, Any]], rid: str) -> list[dict[str, Any]]:
    return [e for e in trail if e["context_id"] == rid]


def payloads(trail: list[dict[str, Any]], rid: str, event_type: str) -> list[Any]:
    return [e["payload"] for e in of(trail, rid) if e["type"] == event_type]


ADMIN = {"user_id": "1", "username": "admin", "auth_method": "ModelBackend"}


def test_server_trail_has_the_audit_facts(trail: list[dict[str, Any]]) -> None:
    """Login, failed login, logout, admin create/change/delete with diffs, actor."""
    assert payloads(trail, "login-bad", "auth_login_failed") == [
        {"username": "eve", "reason": "invalid_credentials"}
    ]
    assert payloads(trail, "login-ok", "auth_login") == [{"user_id": "1"}]
    created = payloads(trail, "admin-add", "record_created")
    assert created[0]["changes"] == {
        "id": [None, 1],
        "name": [None, "Desk"],
        "price": [None, "120.00"],
    }
    assert payloads(trail, "admin-change", "record_updated")[0]["changes"] == {
        "price": ["120.00", "99.50"]
    }
    assert payloads(trail, "admin-delete", "record_deleted")[0]["changes"]["name"] == ["Desk", None]
    actions = [p["action"] for p in payloads(trail, "admin-add", "admin_action")]
    actions += [p["action"] for p in payloads(trail, "admin-change", "admin_action")]
    actions += [p["action"] for p in payloads(trail, "admin-delete", "admin_action")]
    assert actions == ["add", "change", "delete"]
    assert payloads(trail, "logout", "auth_logout") == [{"user_id": "1"}]
    for rid in ("admin-add", "admin-change", "admin-delete"):
        assert all(e["actor"] == ADMIN for e in of(trail, rid)[1:]), rid


def test_server_trail_origin_and_context_on_every_event(trail: list[dict[str, Any]]) -> None:
    """Each request's events share its id, the forwarded client IP and the user agent."""
    stray = [e["type"] for e in trail if not e["context_id"] and e["source"] != "audit_logging.bus"]
    assert stray == []
    for rid in ("login-bad", "login-ok", "admin-add", "admin-change", "admin-delete", "logout"):
        events = of(trail, rid)
        assert len(events) >= 3, rid
        origins = {(e["origin"]["client_ip"], e["origin"]["user_agent"]) for e in events}
        assert origins == {(CLIENT_IP, AGENT)}, (rid, origins)
    direct = {e["origin"]["client_ip"] for e in of(trail, "direct")}
    assert direct == {"127.0.0.1"}  # no forwarding header: the peer itself
    warning = [p["message"] for p in payloads(trail, "not-found", "log_warning")]
    assert warning == ["Not Found: /missing"]


def test_runserver_keeps_the_lifecycle_pair(trail: list[dict[str, Any]]) -> None:
    """A server command is not quieted: the trail starts and stops."""
    types = [e["type"] for e in trail]
    assert types[0] == "audit_bus_started"
    assert types[-1] == "audit_bus_stopped"
