"""
The Django audit trail in a real project (tests/instrument/_django_project.py),
driven by Django's test client in a subprocess: logins, a failed login with the
name tried, the admin's add/change/delete with diffs and the admin's log entry,
many-to-many deltas, DRF token auth and an async view for the actor, the 404
warning and django.security records inside the request, the client IP with and
without a trusted proxy, and management commands without the lifecycle pair.

Every request is sent with its own ``X-Request-ID``, so "one context id on every
event of a request" is checked as: every event the request caused carries it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.instrument import _django_project as project

pytest.importorskip("django")
pytest.importorskip("rest_framework")

pytestmark = pytest.mark.timeout(240)

DRIVER = textwrap.dedent(
    """
    import asyncio
    import re

    import django

    django.setup()

    from django.test import AsyncClient, Client, override_settings

    from audit_logging._engine.registry import get_bus
    from shop.models import Product, Tag

    UA = {"User-Agent": "trail-test/1.0"}


    def rid(n, **headers):
        return {"X-Request-ID": n, **UA, **headers}


    def csrf(client, url, n):
        page = client.get(url, headers=rid(n))
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


    client = Client(enforce_csrf_checks=True)
    token = csrf(client, "/accounts/login/", "login-page")
    bad = {"username": "mallory@example.com", "password": "guess", "csrfmiddlewaretoken": token}
    assert client.post("/accounts/login/", bad, headers=rid("login-bad")).status_code == 200
    good = {"username": "admin", "password": "admin-pw", "csrfmiddlewaretoken": token}
    assert client.post("/accounts/login/", good, headers=rid("login-ok")).status_code == 302

    lamp, desk = Tag.objects.create(name="lamp"), Tag.objects.create(name="desk")
    token = csrf(client, "/admin/shop/product/add/", "add-page")
    form = {"name": "Lamp", "price": "9.99", "views": "0", "tags": [str(lamp.pk)],
            "csrfmiddlewaretoken": token}
    added = client.post("/admin/shop/product/add/", form, headers=rid("admin-add"))
    assert added.status_code == 302
    product = Product.objects.get()
    url = f"/admin/shop/product/{product.pk}/change/"
    token = csrf(client, url, "change-page")
    form = {"name": "Lamp", "price": "19.99", "views": "5", "tags": [str(desk.pk)],
            "csrfmiddlewaretoken": token}
    assert client.post(url, form, headers=rid("admin-change")).status_code == 302
    url = f"/admin/shop/product/{product.pk}/delete/"
    token = csrf(client, url, "delete-page")
    form = {"post": "yes", "csrfmiddlewaretoken": token}
    assert client.post(url, form, headers=rid("admin-delete")).status_code == 302

    assert client.get("/missing", headers=rid("not-found")).status_code == 404
    assert client.get("/suspicious", headers=rid("suspicious")).status_code == 400
    assert client.post("/accounts/logout/", headers=rid("no-csrf")).status_code == 403

    api = Client()
    auth = {"Authorization": "Token " + "a" * 40}
    assert api.get("/api/whoami", headers=rid("drf", **auth)).json()["user"] == "admin"

    async def async_view():
        aclient = AsyncClient()
        aclient.cookies = client.cookies
        response = await aclient.get("/async/whoami", headers=rid("async"))
        return response.json()

    assert asyncio.run(async_view())["actor"]["username"] == "admin"

    token = client.cookies["csrftoken"].value
    logout = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token},
                         headers=rid("logout"))
    assert logout.status_code == 200, logout.status_code

    with override_settings(AUDIT_TRUSTED_PROXIES=["127.0.0.1"]):
        proxied = Client()
        forwarded = {"X-Forwarded-For": "203.0.113.7"}
        proxied.get("/accounts/login/", headers=rid("proxied", **forwarded))
    spoofed = Client()
    spoofed.get("/accounts/login/", headers=rid("spoofed", **{"X-Forwarded-For": "203.0.113.9"}))

    get_bus("default").close()
    print("driven")
    """
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, migrated, with its superuser (once for the module)."""
    return project.build(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def trail(site: Path) -> list[dict[str, Any]]:
    """What the test client's requests left in the file sink."""
    audit = site / "client.jsonl"
    (site / "driver.py").write_text(DRIVER)
    out = subprocess.run(  # noqa: PLW1510 - the status is asserted with stderr
        [sys.executable, "driver.py"],
        cwd=site,
        env=project.env(site, audit),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert "driven" in out.stdout
    return project.events(audit)


def of(trail: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    """The events of one request."""
    return [e for e in trail if e["context_id"] == request_id]


def one(events: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    """The one event of that type."""
    found = [e for e in events if e["type"] == event_type]
    assert len(found) == 1, (event_type, [e["type"] for e in events])
    return found[0]


ADMIN_ACTOR = {"user_id": "1", "username": "admin", "auth_method": "ModelBackend"}


def test_every_event_of_a_request_carries_its_context_id(trail: list[dict[str, Any]]) -> None:
    """No event published while serving a request has an empty or foreign context id."""
    assert trail
    stray = [e["type"] for e in trail if not e["context_id"] and e["source"] != "audit_logging.bus"]
    assert stray == []
    for request_id in ("login-bad", "login-ok", "admin-add", "admin-change", "admin-delete"):
        events = of(trail, request_id)
        types = [e["type"] for e in events]
        assert types[0] == "http_request_received", types
        assert "http_response_sent" in types, types
        origins = {(e["origin"]["client_ip"], e["origin"]["user_agent"]) for e in events}
        assert origins == {("127.0.0.1", "trail-test/1.0")}, (request_id, origins)


def test_failed_login_keeps_the_name_tried_never_the_password(trail: list[dict[str, Any]]) -> None:
    """auth_login_failed: the attempted e-mail unmasked under username; no password anywhere."""
    event = one(of(trail, "login-bad"), "auth_login_failed")
    assert event["payload"] == {"username": "mallory@example.com", "reason": "invalid_credentials"}
    assert event.get("actor") is None
    assert event["origin"]["path"] == "/accounts/login/"
    assert "guess" not in str(trail)
    assert "admin-pw" not in str(trail)


def test_login_makes_the_user_the_actor_of_the_rest_of_the_request(
    trail: list[dict[str, Any]],
) -> None:
    """auth_login with the user id; the events after it (the response) carry the actor."""
    events = of(trail, "login-ok")
    login = one(events, "auth_login")
    assert login["payload"] == {"user_id": "1"}
    assert login["actor"] == ADMIN_ACTOR
    assert one(events, "http_response_sent")["actor"] == ADMIN_ACTOR
    assert one(events, "http_request_received").get("actor") is None


def test_admin_add_change_delete_with_diffs_and_the_admin_log(trail: list[dict[str, Any]]) -> None:
    """record_* with [old, new] (Decimal as text), m2m deltas, admin_action; actor admin."""
    created = one(of(trail, "admin-add"), "record_created")
    assert created["payload"]["model"] == "shop.Product"
    assert created["payload"]["changes"] == {
        "id": [None, 1],
        "name": [None, "Lamp"],
        "price": [None, "9.99"],
    }
    assert created["actor"] == ADMIN_ACTOR
    add_events = of(trail, "admin-add")
    m2m = [e for e in add_events if e["type"] == "record_updated"]
    assert [e["payload"]["changes"] for e in m2m] == [{"tags": {"added": [1], "removed": []}}]
    assert one(add_events, "admin_action")["payload"]["action"] == "add"

    change = of(trail, "admin-change")
    updates = [e["payload"]["changes"] for e in change if e["type"] == "record_updated"]
    assert {"price": ["9.99", "19.99"]} in updates
    assert {"tags": {"added": [], "removed": [1]}} in updates
    assert {"tags": {"added": [2], "removed": []}} in updates
    action = one(change, "admin_action")["payload"]
    assert action["action"] == "change"
    assert "Price" in action["change_message"]
    assert all(e["actor"] == ADMIN_ACTOR for e in change if e["type"] != "http_request_received")

    deleted = one(of(trail, "admin-delete"), "record_deleted")
    assert deleted["payload"]["changes"] == {
        "id": [1, None],
        "name": ["Lamp", None],
        "price": ["19.99", None],
    }
    assert one(of(trail, "admin-delete"), "admin_action")["payload"]["action"] == "delete"
    assert "views" not in str([e["payload"] for e in trail if e["type"].startswith("record_")])


def test_not_found_and_security_records_are_inside_the_request(
    trail: list[dict[str, Any]],
) -> None:
    """Django's 'Not Found' warning, SuspiciousOperation and the CSRF failure keep the id."""
    warning = one(of(trail, "not-found"), "log_warning")
    assert warning["payload"]["message"] == "Not Found: /missing"
    assert warning["origin"]["path"] == "/missing"
    suspicious = [e for e in of(trail, "suspicious") if e["type"] == "log_error"]
    suspicious += [e for e in of(trail, "suspicious") if e["type"] == "log_warning"]
    assert any("tampered" in e["payload"]["message"] for e in suspicious), suspicious
    csrf = of(trail, "no-csrf")
    assert any("CSRF" in e["payload"].get("message", "") for e in csrf), csrf
    assert one(csrf, "http_response_sent")["payload"]["status"] == 403


def test_actor_from_drf_token_auth_and_in_an_async_view(trail: list[dict[str, Any]]) -> None:
    """DRF sets the user inside the view: the token user is the actor; async views too."""
    drf = of(trail, "drf")
    record = next(e for e in drf if e["type"] == "log_info")
    assert record["actor"] == {"user_id": "1", "username": "admin", "auth_method": "token"}
    assert one(drf, "http_response_sent")["actor"]["auth_method"] == "token"
    async_events = of(trail, "async")
    assert next(e for e in async_events if e["type"] == "log_info")["actor"] == ADMIN_ACTOR
    assert one(async_events, "http_response_sent")["actor"] == ADMIN_ACTOR


def test_logout_is_published_as_the_user_leaving(trail: list[dict[str, Any]]) -> None:
    """auth_logout carries the user; the response after it no longer does."""
    events = of(trail, "logout")
    logout = one(events, "auth_logout")
    assert logout["payload"] == {"user_id": "1"}
    assert logout["actor"] == ADMIN_ACTOR
    assert one(events, "http_response_sent").get("actor") is None


def test_client_ip_behind_a_trusted_proxy_only(trail: list[dict[str, Any]]) -> None:
    """X-Forwarded-For is believed from a trusted proxy, ignored otherwise."""
    assert one(of(trail, "proxied"), "http_response_sent")["origin"]["client_ip"] == "203.0.113.7"
    assert one(of(trail, "spoofed"), "http_response_sent")["origin"]["client_ip"] == "127.0.0.1"


def test_management_commands_write_no_lifecycle_pair(site: Path) -> None:
    """migrate and shell (build()) wrote no audit_bus_started/stopped; shell's user change did."""
    assert [e["type"] for e in project.events(site / "migrate.jsonl")] == []
    setup = project.events(site / "setup.jsonl")
    assert [e["type"] for e in setup] == ["record_created"]
    changes = setup[0]["payload"]["changes"]
    assert changes["username"] == [None, "admin"]
    assert changes["password"] == "****"
    assert changes["email"] == "****"


@pytest.fixture
def asked(site: Path) -> Iterator[Path]:
    """A settings module asking for the lifecycle events in management commands."""
    path = site / "lifecycle_settings.py"
    path.write_text("from site_settings import *\nAUDIT_LIFECYCLE_EVENTS = True\n")
    yield path
    path.unlink()


def test_management_command_lifecycle_pair_when_asked(site: Path, asked: Path) -> None:
    """AUDIT_LIFECYCLE_EVENTS = True: the command's bus writes its start and stop."""
    audit = site / "asked.jsonl"
    env = project.env(site, audit, DJANGO_SETTINGS_MODULE="lifecycle_settings")
    command = [
        sys.executable,
        "manage.py",
        "shell",
        "-c",
        "import logging;logging.getLogger('shop').warning('from a command')",
    ]
    out = subprocess.run(
        command, check=False, cwd=site, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    types = [e["type"] for e in project.events(audit)]
    assert types == ["audit_bus_started", "log_warning", "audit_bus_stopped"]
