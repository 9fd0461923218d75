"""
Tests for audit_logging._sinks.database.rows: exact round trips (Unicode, emoji, 1 MiB
payloads, UTC times with microseconds), NUL and surrogates escaped, too long or too large
events rejected before they are sent. Against real servers; an absent one is skipped.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging.events import Event, new_event
from audit_logging.sinks.database import (
    DatabaseHandler,
    event_from_row,
)
from tests._helpers import HandedBack
from tests.sinks.conftest import Database
from tests.sinks.database._support import EMOJI, FAR, UNICODE, dead_letters, make, stored


@pytest.mark.timeout(30)
def test_unicode_and_emoji_round_trip_exactly(db: Database, handler: DatabaseHandler) -> None:
    """Multilingual text and 4-byte emoji come back unchanged in every column."""
    span = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    evt = new_event(
        f"type {EMOJI}",
        f"{UNICODE} {EMOJI}",
        {"text": UNICODE, "emoji": EMOJI, UNICODE: [EMOJI, "\u2028", "\x1b[31m"]},
        context_id=f"ctx-{EMOJI}",
        span_context=span,
    )
    handler.write_event(evt)
    handler.flush()
    (back,) = stored(db, handler.table)
    assert back.to_dict() == evt.to_dict()
    assert back.to_json_bytes() == evt.to_json_bytes()


@pytest.mark.timeout(60)
def test_one_megabyte_payload_round_trips(db: Database, handler: DatabaseHandler) -> None:
    """A 1 MiB payload is stored whole."""
    big = ("0123456789abcdef" * 65536) + UNICODE
    evt = new_event("big", "s", {"blob": big})
    handler.write_event(evt)
    handler.flush()
    (back,) = stored(db, handler.table)
    assert back.payload == {"blob": big}


@pytest.mark.timeout(30)
def test_time_round_trips_in_utc_with_microseconds(db: Database, handler: DatabaseHandler) -> None:
    """An event time in any zone comes back as the same UTC instant, to the microsecond."""
    zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    when = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=zone)
    evt = Event(type="t", source="s", payload={}, time=when)
    handler.write_event(evt)
    handler.flush()
    (row,) = db.rows(handler.table)
    assert row.time == when
    assert row.time.tzinfo == dt.UTC
    assert row.time.microsecond == 123456


def test_payload_over_max_payload_bytes_is_dead_lettered(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """An event over max_payload_bytes is dead-lettered as record_too_large, not retried."""
    dead = tmp_path / "dead"
    failures = HandedBack()
    for handler in make(
        sqlite_db, flush_interval=FAR, dead_letter_dir=dead, max_payload_bytes=1000
    ):
        handler.set_failure_callback(failures)
        small = new_event("t", "s", {"x": "y" * 900})
        large = new_event("t", "s", {"x": "y" * 1000})
        handler.write_event(small)
        handler.write_event(large)
        handler.flush()
        assert [e.id for e in stored(sqlite_db, handler.table)] == [small.id]
        (line,) = dead_letters(dead, handler.table)
        assert line["reason"] == "record_too_large"
        assert failures.events == []


def test_nul_in_strings_is_escaped_on_postgresql(pg_db: Database) -> None:
    """NUL in type/source/context_id is stored as the text \\u0000; payload NUL round-trips."""
    for handler in make(pg_db, flush_interval=FAR):
        evt = new_event("a\x00b", "src\x00", {"k\x00": "v\x00"}, context_id="\x00")
        handler.write_event(evt)
        handler.flush()
        (row,) = pg_db.rows(handler.table)
        assert (row.type, row.source, row.context_id) == ("a\\u0000b", "src\\u0000", "\\u0000")
        assert event_from_row(row).payload == {"k\x00": "v\x00"}
        assert handler.dead_lettered == 0
        assert handler.lost_events == 0


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=st.text(max_size=300))
def test_any_source_string_is_stored_escaped_or_rejected(
    source: str, tmp_path_factory: Any
) -> None:
    """Any source (NUL, surrogates, controls, 300 chars) is stored escaped or dead-lettered."""
    directory = tmp_path_factory.mktemp("db")
    url = f"sqlite:///{directory / 'a.db'}"
    handler = DatabaseHandler(url, flush_interval=FAR)
    try:
        handler.write_event(new_event("t", source, {"source": source}))
        handler.flush()
        with handler.engine.connect() as conn:
            rows = list(conn.execute(sa.text("SELECT source FROM audit")))
    finally:
        handler.close()
    expected = source.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
    if len(expected) > 255:
        assert rows == []
        assert handler.lost_events == 1
    else:
        assert [r[0] for r in rows] == [expected]
