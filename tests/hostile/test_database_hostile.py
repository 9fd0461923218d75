"""
S10 hostile payloads into the SQL sink (SQLite, PostgreSQL, MariaDB), and SQL
injection through table names.

Pass criteria (RELIABILITY S10, the SQL-injection and silent-truncation threats):
every hostile event published on a bus with a DatabaseHandler is stored as exactly
one row, nothing is reported or dead-lettered, NUL never reaches a PostgreSQL text
column (it is stored as the escape text ``\\u0000``, as documented), lone surrogates
become their escape text, 4-byte UTF-8 survives MariaDB, the ``payload`` column
parses with a strict parser and equals the sanitized event's canonical payload, and
the bus still delivers a normal event afterwards. A hostile table name
(``audit; DROP TABLE x--``, quotes, 64+ characters, non-ASCII) raises ``ValueError``
at construction, before any SQL runs, and the victim table survives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_logging._model import encoding as _encoding
from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sanitize import sanitize_payload
from audit_logging.sinks.database import (
    DatabaseHandler,
    audit_table,
    event_from_row,
    setup_database,
)
from tests._helpers import Errors
from tests.hostile._hostile import (
    HOSTILE_SETTINGS,
    INJECTION_TEXTS,
    custom_event_types,
    fixed_hostile_values,
    hostile_payloads,
    hostile_text,
    nested_dict,
    strict_loads,
)
from tests.sinks.conftest import Database

pytestmark = pytest.mark.timeout(90)

VALID_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def column_text(value: str) -> str:
    """What the sink documents for type/source/context_id: surrogates and NUL as escape text."""
    return _encoding.make_safe(value).replace("\x00", "\\u0000")


def store_through_bus(
    url: str, table: str, events: list[Event[Any]], dead_letters: Path
) -> tuple[list[Delivery], Errors]:
    """Publish ``events`` on an async bus whose only sink is a DatabaseHandler; drain; close."""
    errors = Errors()
    sink = DatabaseHandler(
        url, table=table, batch_size=50, flush_interval=0.05, retry_delay=0.05,
        dead_letter_dir=dead_letters,
    )  # fmt: skip
    with Bus(lifecycle_events=False, error_func=errors, buffer_size=10_000) as bus:
        bus.subscribe(EVENT_ANY, sink, name="db")
        outcomes = [bus.publish(evt) for evt in events]
        assert bus.flush(60), "the bus did not drain within 60 s"
        after = new_event("after_hostile", "test", {"n": 1})
        assert bus.publish(after) is Delivery.QUEUED
        assert bus.flush(30)
    events.append(after)
    return outcomes, errors


def assert_rows_match(db: Database, table: str, events: list[Event[Any]]) -> None:
    """One row per event; columns escaped as documented; payload strict and canonical."""
    rows = {row.id: row for row in db.rows(table)}
    assert len(rows) == len(events)
    for evt in events:
        row = rows[evt.id]
        assert (row.type, row.source, row.context_id or "") == (
            column_text(evt.type),
            column_text(evt.source),
            column_text(evt.context_id),
        )
        for text in (row.type, row.source, row.context_id or "", row.payload):
            assert "\x00" not in text
        # The column holds the payload encoded on its own (so the depth cap counts from it).
        expected = strict_loads(_encoding.dumps(sanitize_payload(evt).payload))
        assert strict_loads(row.payload) == expected
        assert event_from_row(row).id == evt.id


def hostile_events() -> list[Event[Any]]:
    values = fixed_hostile_values()
    del values["huge_int"]  # see test_integer_beyond_double_range_reads_back
    events = [new_event("hostile", "test", {name: v}) for name, v in values.items()]
    events += [new_event(text, text, {text: text}, context_id=text) for text in INJECTION_TEXTS]
    events += [
        new_event(
            "nul\x00type", "nul\x00source", {"nul\x00key": "nul\x00value"}, context_id="\x00"
        ),
        new_event("emoji_\U0001f600", "\U0001f4a9", {"k": "\U0001f600" * 1000}),
        new_event("big", "test", {"one_mb": "\r\n\u2028\x00" * 250_000}),
        new_event("deep", "test", nested_dict(10_000)),
        new_event("wide", "test", {f"k{i}": i for i in range(100_000)}),
    ]
    return events


def test_hostile_events_are_stored_one_row_each(db: Database, tmp_path: Path) -> None:
    """Every hostile event becomes exactly one faithful row, on SQLite, PostgreSQL and MariaDB."""
    table = db.new_table()
    events = hostile_events()
    outcomes, errors = store_through_bus(db.url, table, events, tmp_path / "dead")
    assert outcomes == [Delivery.QUEUED] * len(outcomes)
    assert errors.calls == []
    assert not any((tmp_path / "dead").glob("*")), "nothing may be dead-lettered"
    assert_rows_match(db, table, events)


def test_integer_beyond_double_range_reads_back(sqlite_db: Database, tmp_path: Path) -> None:
    """A 400-digit integer is stored exactly and event_from_row reads it back."""
    table = sqlite_db.new_table()
    events = [new_event("big_int", "test", {"n": 10**400})]
    store_through_bus(sqlite_db.url, table, events, tmp_path / "dead")
    (row,) = [r for r in sqlite_db.rows(table) if r.id == events[0].id]
    assert strict_loads(row.payload) == {"n": 10**400}
    assert event_from_row(row).payload == {"n": 10**400}


@settings(HOSTILE_SETTINGS, max_examples=15)
@given(
    batch=st.lists(
        st.tuples(
            custom_event_types.filter(lambda t: len(t) <= 40),
            hostile_text,
            hostile_text,
            hostile_payloads,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_hostile_batch_round_trips_through_sqlite(
    batch: list[tuple[Any, ...]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property: hostile envelopes and payloads are stored in SQLite as documented, nothing lost."""
    directory = tmp_path_factory.mktemp("sqlite")
    url = f"sqlite:///{directory / 'audit.db'}"
    events = [Event(t, s, p, context_id=c) for t, s, c, p in batch]
    outcomes, errors = store_through_bus(url, "audit", events, directory / "dead")
    assert errors.calls == []
    assert outcomes == [Delivery.QUEUED] * len(outcomes)
    db = Database("sqlite", url, sa.create_engine(url))
    try:
        assert_rows_match(db, "audit", events)
    finally:
        db.engine.dispose()


HOSTILE_TABLE_NAMES = (
    "audit; DROP TABLE victim--",
    "victim--",
    'audit"; DROP TABLE victim; --',
    "audit'",
    "a`b",
    "a b",
    "a.b",
    "x" * 64,
    "x" * 1000,
    "",
    "1audit",
    "audit\x00",
    "audit\n",
    "\uff41udit",
    "aud\u00efit",
)


def test_hostile_table_names_are_refused_at_construction(db: Database) -> None:
    """A hostile table name raises ValueError before any SQL runs; the victim table survives."""
    victim = db.new_table()
    setup_database(db.engine, victim)
    for name in HOSTILE_TABLE_NAMES:
        with pytest.raises(ValueError, match="table name"):
            DatabaseHandler(db.engine, table=name)
        with pytest.raises(ValueError, match="table name"):
            setup_database(db.engine, name)
        with pytest.raises(ValueError, match="table name"):
            audit_table(sa.MetaData(), name)
    assert sa.inspect(db.engine).has_table(victim)
    assert db.count(victim) == 0


def test_the_longest_valid_table_name_works(sqlite_db: Database) -> None:
    """63 characters is the limit (PostgreSQL NAMEDATALEN - 1) and is accepted."""
    name = "t" * 63
    sqlite_db.tables.append(name)
    sink = DatabaseHandler(sqlite_db.engine, table=name)
    sink.write_event(new_event("order_placed", "t", {}))  # the table is made before the first write
    sink.close()
    assert sa.inspect(sqlite_db.engine).has_table(name)
    assert sqlite_db.count(name) == 1


@HOSTILE_SETTINGS
@given(name=st.one_of(st.text(max_size=70), st.from_regex(VALID_TABLE, fullmatch=True)))
def test_table_name_is_accepted_exactly_when_it_is_a_plain_identifier(name: str) -> None:
    """Property: audit_table accepts a name iff it matches ^[A-Za-z_][A-Za-z0-9_]{0,62}$."""
    if VALID_TABLE.fullmatch(name):
        assert audit_table(sa.MetaData(), name).name == name
    else:
        with pytest.raises(ValueError, match="table name"):
            audit_table(sa.MetaData(), name)
