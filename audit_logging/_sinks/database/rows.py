"""
Events to rows, and rows back to events.

Turning events into rows (:class:`RowBuilder`), what is checked before a row is
sent, so the database never has to refuse it and a server in a lax mode cannot
truncate it:

- ``type``, ``source``, ``context_id`` at most 255 characters and ``id`` at most
  36, after escaping; otherwise the event is dead-lettered as ``data_too_long``.
- In those columns (and ``id``) a NUL character becomes the six characters ``\\u0000``
  and a lone surrogate its backslash escape (``\\udc80``), on every backend:
  PostgreSQL cannot store NUL in text and no UTF-8 column can hold a surrogate.
  The payload column needs no such step: canonical JSON already escapes both.
- The payload's UTF-8 size at most ``max_payload_bytes`` and the backend's limit:
  512 MiB on PostgreSQL, SQLite's ``SQLITE_LIMIT_LENGTH`` (1e9 by default), and on
  MySQL/MariaDB ``max_allowed_packet`` (a bigger statement makes the server drop
  the connection, which would look like an outage and be retried forever);
  otherwise ``record_too_large``.

The scope columns: ``actor`` and ``origin`` hold the canonical objects as JSON
(NULL when the event has none); ``actor_id`` and ``client_ip`` repeat one field of
them for indexed look-ups, cleaned like the other text columns and cut to the
column's size (255 and 45 characters: the JSON object keeps the whole value);
``trace_flags`` is two hex digits with a valid span, else NULL.

Rows are handed to the driver already converted (UTC datetimes on PostgreSQL, UTC
``YYYY-MM-DD HH:MM:SS.ffffff`` text on SQLite and MySQL), skipping SQLAlchemy's
per-row bind processing. Reading back (:func:`event_from_row`) accepts what every
backend returns (naive or aware times, text or already decoded JSON payloads).

Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from audit_logging._model import encoding as _encoding
from audit_logging._model.encoding import loads
from audit_logging._model.event import Event, format_time

__all__ = [
    "MYSQL_STATEMENT_OVERHEAD",
    "PG_MAX_PAYLOAD",
    "Rejected",
    "Row",
    "RowBuilder",
    "event_from_row",
]

_UTC = _dt.UTC
PG_MAX_PAYLOAD = 512 * 1024 * 1024
"""The largest payload PostgreSQL stores in a text column (and the default limit)."""
MYSQL_STATEMENT_OVERHEAD = 8 * 1024
"""What an INSERT statement adds around the payload, counted against ``max_allowed_packet``."""
_STRING_LIMITS = (("id", 36), ("type", 255), ("source", 255), ("context_id", 255))


Row = tuple[Event[Any], tuple[Any, ...]]
"""One event ready to insert and its driver-level values in :data:`schema.COLUMNS` order."""


class Rejected(NamedTuple):
    """
    An event the table cannot hold, with the dead-letter reason and a detail.
    """

    event: Event[Any]
    reason: str
    detail: str


def _clean(value: object) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _too_long(*values: str) -> str:
    for (name, limit), text in zip(_STRING_LIMITS, values, strict=True):
        if len(text) > limit:
            return f"column {name!r} has {len(text)} characters, limit {limit}"
    return ""  # pragma: no cover - only called when one value is too long


class RowBuilder:
    """
    Converts events to the rows of one table, refusing the ones it could not store faithfully.

    Args:
        text_times: send times as UTC text (SQLite, MySQL) instead of datetimes.
        max_payload_bytes: the user's payload limit, if any.
    """

    def __init__(self, *, text_times: bool, max_payload_bytes: int | None) -> None:
        self._text_times = text_times
        self._user_max = max_payload_bytes
        self._server_max = PG_MAX_PAYLOAD
        self._packet: int | None = None

    def set_server_limits(self, max_payload: int, packet: int | None = None) -> None:
        """
        What the server was found to accept: the largest payload, and MySQL's packet size.
        """
        self._server_max = max_payload
        self._packet = packet

    def _time_value(self, t: _dt.datetime) -> Any:
        if t.tzinfo is not _UTC:
            t = t.replace(tzinfo=_UTC) if t.tzinfo is None else t.astimezone(_UTC)
        if self._text_times:
            # UTC wall time as text: SQLAlchemy's SQLite DATETIME format, and a literal
            # MySQL parses exactly into DATETIME(6) (pymysql formats a datetime object
            # several times slower). [:26] drops the "+00:00" of a UTC time.
            return t.isoformat(" ", "microseconds")[:26]
        return t

    def _mysql_statement_size(self, payload: bytes) -> int:
        # pymysql escapes quotes and backslashes in the literal: count them so a
        # payload just under max_allowed_packet is not sent in a statement over it.
        return (
            len(payload)
            + payload.count(b'"')
            + payload.count(b"\\")
            + payload.count(b"'")
            + MYSQL_STATEMENT_OVERHEAD
        )

    def build(self, events: Sequence[Event[Any]]) -> tuple[list[Row], list[Rejected]]:
        """
        Convert events to rows; events no backend could store faithfully are rejected.
        """
        rows: list[Row] = []
        rejected: list[Rejected] = []
        limit = (
            self._server_max if self._user_max is None else min(self._server_max, self._user_max)
        )
        packet = self._packet
        time_value = self._time_value
        dumps = _encoding.dumps
        for evt in events:
            try:
                event_id, etype, source, context_id = evt.id, evt.type, evt.source, evt.context_id
                # Fast path: plain ASCII without NUL needs no escaping (the usual case).
                if not (
                    type(etype) is str
                    and type(source) is str
                    and type(context_id) is str
                    and type(event_id) is str
                    and (etype + source + context_id + event_id).isascii()
                    and "\x00" not in etype
                    and "\x00" not in source
                    and "\x00" not in context_id
                    and "\x00" not in event_id
                ):
                    event_id = _clean(event_id)
                    etype, source, context_id = _clean(etype), _clean(source), _clean(context_id)
                when = time_value(evt.time)
                sc = evt.span_context
                if sc.is_valid:
                    trace_id: str | None = format(sc.trace_id, "032x")
                    span_id: str | None = format(sc.span_id, "016x")
                else:
                    trace_id = span_id = None
                payload = dumps(evt.payload)
                scope = _scope_values(evt, dumps)
            except Exception as exc:
                rejected.append(Rejected(evt, "invalid_data", f"{type(exc).__name__}: {exc}"[:300]))
                continue
            if len(etype) > 255 or len(source) > 255 or len(context_id) > 255 or len(event_id) > 36:
                rejected.append(
                    Rejected(evt, "data_too_long", _too_long(event_id, etype, source, context_id))
                )
                continue
            size = len(payload)
            if size > limit or (
                packet is not None
                and size * 2 + MYSQL_STATEMENT_OVERHEAD > packet
                and self._mysql_statement_size(payload) > packet
            ):
                rejected.append(
                    Rejected(evt, "record_too_large", f"payload is {size} bytes, limit {limit}")
                )
                continue
            rows.append(
                (
                    evt,
                    (
                        event_id,
                        etype,
                        when,
                        source,
                        context_id,
                        trace_id,
                        span_id,
                        payload.decode("utf-8"),
                        *scope,
                    ),
                )
            )
        return rows, rejected


_NO_SCOPE = (None, None, None, None, None)


def _scope_values(evt: Event[Any], dumps: Any) -> tuple[Any, ...]:
    """
    The values of the scope columns (trace_flags, actor_id, client_ip, actor, origin).
    """
    actor, origin, sc = evt.actor, evt.origin, evt.span_context
    flags = format(sc.trace_flags, "02x") if sc.is_valid else None
    if actor is None and origin is None:
        return _NO_SCOPE if flags is None else (flags, None, None, None, None)
    actor_id = _clean(actor.user_id)[:255] or None if actor is not None else None
    client_ip = _clean(origin.client_ip)[:45] or None if origin is not None else None
    return (
        flags,
        actor_id,
        client_ip,
        None if actor is None else dumps(actor.to_dict()).decode("utf-8"),
        None if origin is None else dumps(origin.to_dict()).decode("utf-8"),
    )


def _json_column(mapping: Mapping[str, Any], name: str) -> Any:
    value = mapping.get(name)
    if isinstance(value, str | bytes):
        try:
            return loads(value)
        except ValueError as exc:
            raise ValueError(f"column {name!r} is not JSON: {exc}") from None
    return value


def event_from_row(row: Any) -> Event[Any]:
    """
    Rebuild an event from a row of the audit table (a SQLAlchemy ``Row`` or a mapping).

    Raises:
        ValueError: the row does not hold a valid event.
    """
    mapping: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
    when = mapping["time"]
    if isinstance(when, str):
        when = _dt.datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_UTC)
    payload = mapping["payload"]
    if isinstance(payload, str | bytes):  # a JSON/JSONB column arrives already decoded
        try:
            payload = loads(payload)  # integers beyond 64 bits stay exact
        except ValueError as exc:
            raise ValueError(f"column 'payload' is not JSON: {exc}") from None
    d: dict[str, Any] = {
        "id": mapping["id"],
        "type": mapping["type"],
        "time": format_time(when),
        "source": mapping["source"],
        "context_id": mapping["context_id"] or "",
        "trace_id": mapping["trace_id"] or "",
        "span_id": mapping["span_id"] or "",
        "payload": payload,
    }
    # A table of an earlier layout has none of these columns: the event has none of them.
    if mapping.get("trace_flags"):
        d["trace_flags"] = mapping["trace_flags"]
    for name in ("actor", "origin"):
        value = _json_column(mapping, name)
        if value is not None:
            d[name] = value
    return Event.from_dict(d)
