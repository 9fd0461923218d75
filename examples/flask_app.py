"""
A Flask app whose logging and HTTP traffic become audit events.

Flask has no LOGGING setting: ``dictConfig`` runs *before* the app is created.
Run: ``python examples/flask_app.py`` (serves three requests with the test
client and prints the events in the file sink).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
import tempfile
from typing import Any

from flask import Flask, jsonify

from audit_logging.contrib.flask import FlaskAudit

BUS_NAME = "flask-example"


def create_app(workdir: str) -> Flask:
    """
    Configure logging, then build the app with the audit middleware.
    """
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "audit": {
                    "class": "audit_logging.stdlib.AuditHandler",
                    "bus": {"name": BUS_NAME},
                    "sinks": {
                        "file": {
                            "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                            "filename": os.path.join(workdir, "audit.jsonl"),
                        },
                        "db": {
                            "class": "audit_logging.sinks.database.DatabaseHandler",
                            "url_or_engine": f"sqlite:///{os.path.join(workdir, 'audit.db')}",
                        },
                    },
                }
            },
            "loggers": {"shop": {"handlers": ["audit"], "level": "INFO"}},
        }
    )
    app = Flask("shop")
    FlaskAudit(app, bus=BUS_NAME, source="shop-http")

    @app.get("/items/<item_id>")
    def get_item(item_id: str) -> Any:
        app.logger.info("item viewed", extra={"item_id": item_id})
        return jsonify(id=item_id)

    @app.post("/login")
    def login() -> Any:
        app.logger.info("login", extra={"event_type": "auth_login", "payload": {"user_id": "u1"}})
        return jsonify(ok=True)

    return app


def main(workdir: str | None = None) -> dict[str, Any]:
    """
    Serve a few requests, close the bus, return the file's events.
    """
    from audit_logging._engine.registry import get_bus

    workdir = workdir or tempfile.mkdtemp(prefix="audit-flask-")
    app = create_app(workdir)
    client = app.test_client()
    # Like a server, close each response: WSGI publishes http_response_sent when
    # the body is exhausted or closed.
    with client.get("/items/42", headers={"X-Request-ID": "req-flask-1"}) as response:
        assert response.headers["X-Request-ID"] == "req-flask-1"
    client.get("/missing").close()
    client.delete("/login").close()
    client.post("/login").close()
    get_bus(BUS_NAME).close()
    with open(os.path.join(workdir, "audit.jsonl"), encoding="utf-8") as f:
        return {"workdir": workdir, "file": [json.loads(line) for line in f]}


if __name__ == "__main__":
    for line in main(sys.argv[1] if len(sys.argv) > 1 else None)["file"]:
        print(json.dumps(line))
