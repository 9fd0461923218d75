"""
Drive the example site with Django's test client and print the audit events.

Run: ``python examples/django_project/run.py [workdir]``. It serves a few
requests (200, 404, 405, a POST and a 500), closes the bus and prints the JSON
lines of the file sink and the row count of the SQLite sink.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    """Set up Django, send the requests, report what reached the sinks."""
    if len(sys.argv) > 1:
        os.environ["AUDIT_EXAMPLE_DIR"] = sys.argv[1]
    sys.path.insert(0, HERE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    import django
    from django.conf import settings
    from django.test import Client

    from audit_logging._engine.registry import get_bus

    django.setup()
    client = Client(raise_request_exception=False)
    client.get("/items/42", headers={"X-Request-ID": "req-django-1"})
    client.get("/missing")
    client.get("/login")
    client.post("/login")
    client.get("/boom")
    bus = get_bus(settings.AUDIT_BUS)
    subscriptions = [s.name for s in bus.subscriptions]
    bus.close()
    with open(os.path.join(settings.AUDIT_DIR, "audit.jsonl"), encoding="utf-8") as f:
        for line in f:
            print(line.rstrip("\n"))
    with sqlite3.connect(os.path.join(settings.AUDIT_DIR, "audit.db")) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM audit").fetchone()
    print(json.dumps({"subscriptions": subscriptions, "db_rows": rows, "dir": settings.AUDIT_DIR}))


if __name__ == "__main__":
    main()
