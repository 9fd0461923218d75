"""
One ``logging.config.dictConfig`` call: records -> bus -> JSON file + SQLite.

Run: ``python examples/dictconfig_example.py`` (writes into a temporary
directory and prints what reached the sinks). ``build_logging_config`` is the
piece to copy; ``main`` is what the tests drive.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sqlite3
import sys
import tempfile
from typing import Any

BUS_NAME = "dictconfig-example"


def build_logging_config(workdir: str, bus_name: str = BUS_NAME) -> dict[str, Any]:
    """
    The LOGGING dict: an AuditHandler whose bus feeds a file and a database sink.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "audit": {
                "class": "audit_logging.stdlib.AuditHandler",
                "level": "INFO",
                # BusConfig fields plus "name": the registry creates the bus once.
                "bus": {"name": bus_name, "spillover_dir": os.path.join(workdir, "spill")},
                "sinks": {
                    "file": {
                        "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                        "filename": os.path.join(workdir, "audit.jsonl"),
                    },
                    "db": {
                        "class": "audit_logging.sinks.database.DatabaseHandler",
                        "url_or_engine": f"sqlite:///{os.path.join(workdir, 'audit.db')}",
                        "flush_interval": 1.0,
                    },
                },
            },
        },
        "root": {"handlers": ["audit"], "level": "INFO"},
    }


def main(workdir: str | None = None) -> dict[str, Any]:
    """
    Configure logging, log a few records, close the bus; return what the sinks hold.
    """
    from audit_logging._engine.registry import get_bus
    from audit_logging.context import bind_context_id

    workdir = workdir or tempfile.mkdtemp(prefix="audit-dictconfig-")
    config = build_logging_config(workdir)
    logging.config.dictConfig(config)
    logging.config.dictConfig(config)  # reconfiguring keeps the bus and its sinks, once each
    log = logging.getLogger("shop.orders")
    with bind_context_id("req-1001"):
        log.info("order %s placed", "o-17", extra={"user_id": "u1", "total": 42.5})
        log.info("login", extra={"event_type": "auth_login", "payload": {"user_id": "u1"}})
        try:
            raise ConnectionError("cannot reach postgresql://shop:s3cr3t@db/shop")
        except ConnectionError:
            log.exception("payment backend down")
    get_bus(BUS_NAME).close()  # at exit the registry does this; here we want the files now
    with open(os.path.join(workdir, "audit.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    with sqlite3.connect(os.path.join(workdir, "audit.db")) as db:
        rows = db.execute("SELECT type FROM audit ORDER BY time").fetchall()
    return {"workdir": workdir, "file": lines, "db_types": [r[0] for r in rows]}


if __name__ == "__main__":
    result = main(sys.argv[1] if len(sys.argv) > 1 else None)
    for line in result["file"]:
        print(json.dumps(line))
    print("database rows:", result["db_types"])
