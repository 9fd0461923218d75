"""
What the tests of the SQL sink share: fresh events, handlers on a fresh table, reading rows back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from audit_logging.events import Event, new_event
from audit_logging.sinks.database import (
    DatabaseHandler,
    DatabaseUnavailableError,
    event_from_row,
)
from tests.sinks.conftest import Database

UNICODE = "こんにちは, 世界! مرحبا"


EMOJI = "😀🎉👩‍💻"


FAR = 1_000_000.0


def events(n: int, **kwargs: Any) -> list[Event[Any]]:
    """``n`` fresh events."""
    return [new_event("user_created", "svc", {"user_id": str(i), **kwargs}) for i in range(n)]


def old_layout(db: Database, payloads: Sequence[dict[str, Any]]) -> str:
    """A table as versions before issue 15 created it (the base columns, a text payload, the
    context_id and time indexes only), holding one ``old_row`` event per payload."""
    import sqlalchemy as sa

    from audit_logging._sinks.database import schema as _schema

    table = db.new_table()
    full = _schema.audit_table(sa.MetaData(), table)
    old = sa.Table(
        table,
        sa.MetaData(),
        *(c._copy() for c in full.columns if c.name in _schema.BASE_COLUMNS),
        **full.kwargs,
    )
    ctx_index, time_index = _schema.index_names(table)
    sa.Index(ctx_index, old.c.context_id)
    sa.Index(time_index, old.c.time)
    old.create(db.engine)
    handler = DatabaseHandler(db.engine, table=table, create_table=False)
    for payload in payloads:
        handler.write_event(new_event("old_row", "svc", payload))
    handler.close()
    return table


def make(db: Database, **kwargs: Any) -> Iterator[DatabaseHandler]:
    handler = DatabaseHandler(db.url, table=db.new_table(), **kwargs)
    try:
        yield handler
    finally:
        handler.close()


def stored(db: Database, table: str) -> list[Event[Any]]:
    """The events in ``table``, rebuilt from their rows."""
    return [event_from_row(row) for row in db.rows(table)]


def dead_letters(directory: Path, table: str) -> list[dict[str, Any]]:
    """The parsed lines of the dead-letter file of ``table``."""
    path = directory / f"{table}.dead-letter.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def replay(handler: DatabaseHandler, batch: Sequence[Event[Any]]) -> None:
    """Write ``batch`` again as a bus replays a spill after an outage: the handler still
    takes the database for down, so it lets one event through as a probe and refuses the
    rest (the bus would spill them) until flush() has committed the probe."""
    for evt in batch:
        try:
            handler.write_event(evt)
        except DatabaseUnavailableError:
            handler.flush()
            handler.write_event(evt)
