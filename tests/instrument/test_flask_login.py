"""
The flask-login half of the Flask integration: the actor of a user object, and the
authentication method a remember-me cookie gives.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("flask_login")

from flask import Flask
from flask_login import LoginManager, UserMixin, login_user

from audit_logging._instrument.flask_login import USERNAME_ATTRS, user_actor
from audit_logging.bus import Bus
from audit_logging.context import Actor
from audit_logging.contrib.flask import FlaskAudit
from tests._helpers import Recorder


class Member(UserMixin):
    def __init__(self, user_id: Any, **attrs: Any) -> None:
        self.id = user_id
        for name, value in attrs.items():
            setattr(self, name, value)


class Broken(UserMixin):
    @property
    def is_authenticated(self) -> bool:
        raise RuntimeError("the user table is gone")


def test_user_actor_reads_id_and_the_first_username_attribute() -> None:
    """get_id() is the id; username, else email, else name; anonymous and broken give None."""
    assert user_actor(Member(3, email="e@x.org", name="Eve"), "m", USERNAME_ATTRS) == Actor(
        user_id="3", username="e@x.org", auth_method="m"
    )
    assert user_actor(Member(4, username="", name="Ned"), "m", USERNAME_ATTRS) == Actor(
        user_id="4", username="Ned", auth_method="m"
    )
    assert user_actor(Member(5), "m", ("login",)) == Actor(user_id="5", auth_method="m")
    from flask_login import AnonymousUserMixin

    assert user_actor(AnonymousUserMixin(), "m", USERNAME_ATTRS) is None
    assert user_actor(Broken(), "m", USERNAME_ATTRS) is None
    assert user_actor(None, "m", USERNAME_ATTRS) is None


def test_remember_cookie_is_the_auth_method(bus: Bus, rec: Recorder) -> None:
    """A request authenticated only by the remember-me cookie says remember_cookie."""
    app = Flask("remember")
    app.config["SECRET_KEY"] = "k"
    manager = LoginManager(app)
    manager.user_loader(lambda uid: Member(uid, username="rita") if uid == "9" else None)
    FlaskAudit(app, bus=bus, login_method="sso")

    @app.post("/in")
    def sign_in() -> str:
        login_user(Member("9", username="rita"), remember=True)
        return "in"

    @app.get("/page")
    def page() -> str:
        return "page"

    first = app.test_client()
    first.post("/in").close()
    remember = first.get_cookie("remember_token")
    assert remember is not None
    assert rec.of_type("auth_login")[0].actor == Actor("9", "rita", "sso")
    rec.events.clear()
    second = app.test_client()  # a new browser session: no session cookie, only the token
    second.set_cookie("remember_token", remember.value)
    second.get("/page").close()
    (sent,) = rec.of_type("http_response_sent")
    assert sent.actor == Actor(user_id="9", username="rita", auth_method="remember_cookie")
