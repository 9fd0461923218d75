"""
FlaskAudit with flask-login, through Flask's test client: logins, failed logins, logouts,
the actor and the origin on the events of each request, and the explicit helpers.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("flask_login")

from flask import Flask

from audit_logging.bus import Bus
from audit_logging.context import Actor, bind_actor, get_actor
from audit_logging.contrib.flask import FlaskAudit, audit_login, audit_login_failed, audit_logout
from tests._helpers import Recorder
from tests.instrument._flask_shop import create_app

UA = "pytest-browser/1.0"


def _by_request(events: list[Any]) -> list[list[Any]]:
    """The events grouped by context id, in order of first appearance."""
    groups: dict[str, list[Any]] = {}
    for e in events:
        groups.setdefault(e.context_id, []).append(e)
    return list(groups.values())


def _login(client: Any, username: str, password: str, **headers: str) -> int:
    with client.post(
        "/login", data={"username": username, "password": password}, headers=headers
    ) as response:
        return int(response.status_code)


def test_login_item_logout_carry_actor_origin_and_one_context_id(bus: Bus, rec: Recorder) -> None:
    """The four requests of a session give the auth events, the actor and one id per request."""
    client = create_app(bus).test_client()
    assert _login(client, "mallory", "guess", **{"User-Agent": UA}) == 401
    assert _login(client, "alice", "wonderland", **{"User-Agent": UA}) == 200
    with client.get("/items/7?token=s3cr3t&page=2", headers={"User-Agent": UA}) as r:
        assert r.status_code == 200
    with client.post("/logout", headers={"User-Agent": UA}) as r:
        assert r.status_code == 200

    failed, login, item, logout = _by_request(rec.events)
    assert [e.type for e in failed] == [
        "http_request_received",
        "auth_login_failed",
        "http_response_sent",
    ]
    assert failed[1].payload == {"username": "mallory", "reason": "invalid credentials"}
    assert all(e.actor is None for e in failed)

    alice = Actor(user_id="1", username="alice", auth_method="password")
    assert [e.type for e in login] == ["http_request_received", "auth_login", "http_response_sent"]
    assert login[0].actor is None  # nobody is known before the app ran
    assert login[1].payload == {"user_id": "1"}
    assert login[1].actor == alice
    assert login[2].actor == alice

    # The next request authenticates from the session, loaded before the view.
    session_alice = Actor(user_id="1", username="alice", auth_method="session")
    assert [e.type for e in item] == ["http_request_received", "http_response_sent"]
    assert item[1].actor == session_alice
    assert item[1].origin is not None
    assert item[1].origin.route == "/items/<item_id>"
    assert item[1].origin.query == "token=****&page=2"

    assert [e.type for e in logout] == [
        "http_request_received",
        "auth_logout",
        "http_response_sent",
    ]
    assert logout[1].actor == session_alice
    assert logout[1].payload == {"user_id": "1"}
    assert logout[2].actor is None  # logged out: the rest of the request is anonymous

    for group in (failed, login, item, logout):
        assert len({e.context_id for e in group}) == 1
        for e in group:
            assert e.origin is not None
            assert e.origin.client_ip == "127.0.0.1"
            assert e.origin.user_agent == UA
    assert get_actor() is None  # nothing leaked into the test's own context


@pytest.mark.parametrize(
    ("trusted", "expected"), [(None, "127.0.0.1"), ("127.0.0.1", "203.0.113.9")]
)
def test_client_ip_behind_a_trusted_proxy_only(
    bus: Bus, rec: Recorder, trusted: str | None, expected: str
) -> None:
    """X-Forwarded-For is believed only from AUDIT_TRUSTED_PROXIES."""
    client = create_app(bus, trusted_proxies=trusted).test_client()
    assert _login(client, "bob", "builder", **{"X-Forwarded-For": "203.0.113.9"}) == 200
    assert {e.origin.client_ip for e in rec.events} == {expected}


def test_trusted_proxies_keyword_and_request_loader(bus: Bus, rec: Recorder) -> None:
    """FlaskAudit(trusted_proxies=...) works without config; a request_loader user says so."""
    from flask_login import LoginManager, UserMixin, current_user

    class Token(UserMixin):
        id = "svc-9"
        username = "robot"

    app = Flask("api")
    manager = LoginManager(app)
    manager.request_loader(lambda req: Token() if req.headers.get("X-Token") == "t" else None)
    FlaskAudit(app, bus=bus, trusted_proxies=["10.0.0.0/8"], username_attrs=("username",))

    @app.get("/who")
    def who() -> str:
        return str(current_user.get_id())

    client = app.test_client()
    environ = {"REMOTE_ADDR": "10.1.2.3"}
    with client.get(
        "/who", headers={"X-Token": "t", "X-Forwarded-For": "198.51.100.4"}, environ_base=environ
    ) as r:
        assert r.get_data() == b"svc-9"
    sent = rec.of_type("http_response_sent")[0]
    assert sent.actor == Actor(user_id="svc-9", username="robot", auth_method="request_loader")
    assert sent.origin is not None
    assert sent.origin.client_ip == "198.51.100.4"


def test_load_user_false_follows_only_a_user_the_view_loads(bus: Bus, rec: Recorder) -> None:
    """AUDIT_LOAD_USER = False: a view that never touches current_user runs anonymous."""
    app = Flask("lazy")
    app.config.update(SECRET_KEY="k", AUDIT_LOAD_USER=False)
    from flask_login import LoginManager, UserMixin, current_user, login_user

    class U(UserMixin):
        id = "5"

    manager = LoginManager(app)
    manager.user_loader(lambda uid: U() if uid == "5" else None)
    FlaskAudit(app, bus=bus)

    @app.post("/in")
    def sign_in() -> str:
        login_user(U())
        return "ok"

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    @app.get("/mine")
    def mine() -> str:
        return str(current_user.get_id())

    client = app.test_client()
    client.post("/in").close()
    rec.events.clear()
    client.get("/plain").close()
    client.get("/mine").close()
    plain_sent, mine_sent = rec.of_type("http_response_sent")
    assert plain_sent.actor is None
    assert mine_sent.actor == Actor(user_id="5", username="", auth_method="session")


def test_helpers_without_flask_login(bus: Bus, rec: Recorder) -> None:
    """audit_login / audit_logout / audit_login_failed publish on the current app's bus."""
    app = Flask("plainapp")
    FlaskAudit(app, bus=bus, source="plain-http")

    @app.post("/in")
    def sign_in() -> str:
        actor = audit_login(42, username="carol", method="sso")
        assert get_actor() == actor
        return "in"

    @app.post("/out")
    def sign_out() -> str:
        audit_login(42, username="carol", method="sso")
        left = audit_logout()
        assert left is not None
        assert left.user_id == "42"
        assert get_actor() is None
        assert audit_logout() is None  # nobody left to log out: nothing published
        return "out"

    @app.post("/bad")
    def bad() -> str:
        audit_login_failed("carol@example.com", "locked")
        return "bad"

    client = app.test_client()
    for path in ("/in", "/out", "/bad"):
        client.post(path).close()
    carol = Actor(user_id="42", username="carol", auth_method="sso")
    logins = rec.of_type("auth_login")
    assert [e.actor for e in logins] == [carol, carol]
    assert {e.source for e in logins} == {"plain-http"}
    (logout,) = rec.of_type("auth_logout")
    assert logout.actor == carol
    assert logout.payload == {"user_id": "42"}
    (failed,) = rec.of_type("auth_login_failed")
    assert failed.payload == {"username": "carol@example.com", "reason": "locked"}


def test_helpers_outside_a_request_use_the_given_bus(bus: Bus, rec: Recorder) -> None:
    """In a worker, the helpers take bus= and bind in the current context (a bind_* block)."""
    with bind_actor(user_id="ops"):
        audit_login_failed("root", "no such user", bus=bus)
        assert audit_logout(bus=bus) == Actor(user_id="ops")
    assert [e.type for e in rec.events] == ["auth_login_failed", "auth_logout"]
    assert rec.events[0].source == "flask"
    assert rec.events[1].actor == Actor(user_id="ops")


def test_init_app_twice_wraps_once(bus: Bus) -> None:
    """A second init_app on the same app is a no-op."""
    app = Flask("twice")
    ext = FlaskAudit(app, bus=bus)
    wrapped = app.wsgi_app
    ext.init_app(app)
    assert app.wsgi_app is wrapped
    assert app.extensions["audit_logging"] is ext
