"""
Tests for audit_logging._bridges.jsonformat: application log lines carry the audit
trail's join keys (context id, trace and span ids, actor), configured through a real
``logging.config.dictConfig``, also behind a QueueHandler.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import logging.handlers
import queue
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from audit_logging import bind_actor, bind_context_id, bind_origin, new_event
from audit_logging.formatters import AuditContextFilter, AuditJsonFormatter
from tests.test_minimal_install import _run_blocked

STREAM = io.StringIO()
TRACER = TracerProvider().get_tracer("tests.jsonformat")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The stream the configured handler writes to (emptied for each test)."""
    STREAM.seek(0)
    STREAM.truncate()
    yield STREAM
    logging.getLogger("tests.app").handlers.clear()


def configure(formatter: dict[str, Any]) -> logging.Logger:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": formatter},
            "handlers": {
                "out": {
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "stream": "ext://tests.bridges.test_jsonformat.STREAM",
                }
            },
            "loggers": {"tests.app": {"handlers": ["out"], "level": "INFO", "propagate": False}},
        }
    )
    return logging.getLogger("tests.app")


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_log_line_joins_the_audit_event_of_the_same_request(stream: io.StringIO) -> None:
    """A line logged in a request has the event's context_id, trace_id, span_id and actor."""
    logger = configure(
        {"()": "audit_logging.formatters.AuditJsonFormatter", "fmt": "%(levelname)s %(message)s"}
    )
    with (
        TRACER.start_as_current_span("request"),
        bind_context_id("req-7"),
        bind_actor(user_id="u42", username="alice"),
    ):
        logger.info("cache miss", extra={"key": "k1"})
        evt = new_event("data_read", "tests", {})
    (line,) = lines(stream)
    assert line["message"] == "cache miss"
    assert line["levelname"] == "INFO"
    assert line["key"] == "k1"
    canonical = evt.to_dict()
    for key in ("context_id", "trace_id", "span_id", "actor"):
        assert line[key] == canonical[key]
    assert len(line["trace_id"]) == 32
    assert "origin" not in line


def test_outside_a_request_the_keys_are_empty_and_actor_absent(stream: io.StringIO) -> None:
    """Without a binding: context_id, trace_id and span_id are "" and no actor is written."""
    logger = configure({"class": "audit_logging.formatters.AuditJsonFormatter"})
    logger.warning("started")
    (line,) = lines(stream)
    assert (line["context_id"], line["trace_id"], line["span_id"]) == ("", "", "")
    assert "actor" not in line


def test_options_rename_and_origin_from_dictconfig(stream: io.StringIO) -> None:
    """python-json-logger's rename_fields applies to our keys; origin=True adds the origin."""
    logger = configure(
        {
            "()": "audit_logging.formatters.AuditJsonFormatter",
            "rename_fields": {"context_id": "request_id"},
            "origin": True,
        }
    )
    with bind_context_id("req-8"), bind_origin(client_ip="10.0.0.7", method="GET", path="/"):
        logger.info("hello")
    (line,) = lines(stream)
    assert line["request_id"] == "req-8"
    assert "context_id" not in line
    assert line["origin"]["client_ip"] == "10.0.0.7"


def test_an_extra_of_the_same_name_wins(stream: io.StringIO) -> None:
    """extra={"context_id": ...} is kept, as AuditHandler takes it for the event."""
    logger = configure({"()": "audit_logging.formatters.AuditJsonFormatter"})
    with bind_context_id("bound"):
        logger.info("x", extra={"context_id": "explicit"})
    assert lines(stream)[0]["context_id"] == "explicit"


def test_filter_on_a_queue_handler_carries_the_context_to_the_listener_thread() -> None:
    """Formatted in a QueueListener thread, the line still has the logging thread's ids."""
    out = io.StringIO()
    target = logging.StreamHandler(out)
    target.setFormatter(AuditJsonFormatter())
    q: queue.Queue[logging.LogRecord] = queue.Queue()
    queue_handler = logging.handlers.QueueHandler(q)
    queue_handler.addFilter(AuditContextFilter())
    listener = logging.handlers.QueueListener(q, target)
    logger = logging.getLogger("tests.app.queued")
    logger.addHandler(queue_handler)
    logger.propagate = False
    listener.start()
    try:
        with bind_context_id("req-9"), bind_actor(user_id="u1"):
            logger.error("payment failed")
    finally:
        listener.stop()
        logger.removeHandler(queue_handler)
    line = json.loads(out.getvalue())
    assert line["context_id"] == "req-9"
    assert line["actor"]["user_id"] == "u1"
    assert "_audit_join" not in line


@pytest.mark.timeout(120)
def test_without_python_json_logger_the_error_names_the_extra() -> None:
    """Importing the formatter without python-json-logger says which extra to install."""
    done = _run_blocked(
        "try:\n"
        "    import audit_logging.formatters\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "MissingDependencyError" in done.stdout
    assert "audit-logging[json-formatter]" in done.stdout
