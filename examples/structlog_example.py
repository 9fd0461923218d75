"""
structlog -> AuditProcessor -> bus -> JSON file, with a bound request id.

Run: ``python examples/structlog_example.py``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

import structlog

from audit_logging.bus import Bus
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.structlog import AuditProcessor


def main(workdir: str | None = None) -> dict[str, Any]:
    """
    Log through structlog, close the bus and return the file's events.
    """
    workdir = workdir or tempfile.mkdtemp(prefix="audit-structlog-")
    path = os.path.join(workdir, "audit.jsonl")
    bus = Bus(spillover_dir=os.path.join(workdir, "spill"))
    bus.subscribe("*", RotatingJSONFileHandler(path), name="file")
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),  # a real app would print or hand over to logging
        processors=[
            structlog.contextvars.merge_contextvars,  # first, so bound ids are in the dict
            structlog.processors.add_log_level,
            AuditProcessor(bus, source="billing"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    structlog.contextvars.bind_contextvars(request_id="req-77")
    try:
        log.info("invoice sent", invoice="inv-1")
        log.info("user logged in", event_type="user_logged_in", user_id="u1")
        try:
            raise RuntimeError("SMTP refused: password=s3cr3t")
        except RuntimeError:
            log.exception("mail failed")
    finally:
        structlog.contextvars.clear_contextvars()
    bus.close()
    with open(path, encoding="utf-8") as f:
        return {"workdir": workdir, "file": [json.loads(line) for line in f]}


if __name__ == "__main__":
    for line in main(sys.argv[1] if len(sys.argv) > 1 else None)["file"]:
        print(json.dumps(line))
