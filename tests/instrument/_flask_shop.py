"""
A small Flask app with flask-login, shared by the test-client tests and the real-server test.

``python -m tests.instrument._flask_shop PORT FILE [TRUSTED]`` serves it with Flask's
development server, the events going to a JSON-lines file sink; SIGTERM closes the bus
(``install_sigterm_handler``), so the file is complete when the process has exited. The
server speaks HTTP/1.1 keep-alive, so a client's next request on the same connection is
read only once the previous response was closed (its ``http_response_sent`` published):
what the test synchronises on before it sends SIGTERM.
"""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask, request
from flask_login import LoginManager, UserMixin, login_required, login_user, logout_user

from audit_logging.bus import Bus
from audit_logging.contrib.flask import FlaskAudit, audit_login_failed

USERS = {"1": ("alice", "wonderland"), "2": ("bob", "builder")}


class User(UserMixin):
    """A user of the shop: flask-login's mixin, the id and a username."""

    def __init__(self, user_id: str) -> None:
        self.id = user_id
        self.username = USERS[user_id][0]


def create_app(bus: Bus, *, trusted_proxies: str | None = None) -> Flask:
    """The shop: POST /login, GET /items/<item_id> (login required), POST /logout."""
    app = Flask("shop")
    app.config["SECRET_KEY"] = "test-only"
    if trusted_proxies:
        app.config["AUDIT_TRUSTED_PROXIES"] = trusted_proxies
    manager = LoginManager(app)

    @manager.user_loader
    def load(user_id: str) -> User | None:
        return User(user_id) if user_id in USERS else None

    FlaskAudit(app, bus=bus)

    @app.post("/login")
    def login() -> Any:
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        for user_id, (name, secret) in USERS.items():
            if name == username and secret == password:
                login_user(User(user_id))
                return "welcome"
        audit_login_failed(username, "invalid credentials")
        return "no", 401

    @app.get("/items/<item_id>")
    @login_required
    def item(item_id: str) -> Any:
        return {"id": item_id}

    @app.post("/logout")
    @login_required
    def logout() -> Any:
        logout_user()
        return "bye"

    return app


def main(port: int, filename: str, trusted: str | None) -> None:
    """Serve until SIGTERM; the bus closes on the way out."""
    from audit_logging import install_sigterm_handler
    from audit_logging.events import EVENT_ANY
    from audit_logging.sinks.file import RotatingJSONFileHandler

    bus = Bus(lifecycle_events=False)
    bus.subscribe(EVENT_ANY, RotatingJSONFileHandler(filename), name="file")
    install_sigterm_handler()
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    app = create_app(bus, trusted_proxies=trusted)
    app.run("127.0.0.1", port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
