"""
``audit-logging query``: read the audit table, or a JSON-lines trail, newest first, as
a table or JSON lines.

From a table (``--db``) every filter is a bound parameter of a SQLAlchemy Core
statement, never SQL text; payload fields (``--where KEY=VALUE``) use the dialect's
JSON operators (:mod:`audit_logging._sinks.database.payload_filter`). From a file
(``--file``: the file and its rotated backups, gzipped or not, canonical or ECS
lines) the same filters are applied in Python (:mod:`audit_logging._cli.filters`),
with the same meaning.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from typing import TYPE_CHECKING, Any

from audit_logging._cli.common import (
    ERROR_TYPES,
    CLIError,
    compact_payload,
    is_failed_login,
    json_line,
    make_console,
    safe_text,
    who_text,
)
from audit_logging._cli.db import open_audit_table, row_to_dict, time_filters
from audit_logging._cli.files import (
    NotAnEvent,
    UnfilterableFormat,
    canonical_event,
    file_lines,
    trail_files,
)
from audit_logging._cli.filters import EventFilter
from audit_logging._model.event import Event

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["DEFAULT_LIMIT", "add_arguments", "run"]

DEFAULT_LIMIT = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``query``.
    """
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="URL", help="SQLAlchemy database URL")
    where.add_argument(
        "--file",
        metavar="PATH",
        help="a JSON-lines audit file (its rotated backups included) instead of a table",
    )
    parser.add_argument("--table", default="audit", help="table name (default: audit)")
    parser.add_argument(
        "--no-rotated", action="store_true", help="with --file: not the rotated backups"
    )
    parser.add_argument(
        "--type", action="append", metavar="T", help="event type (repeat for several)"
    )
    parser.add_argument("--context-id", metavar="C", help="only this request's events")
    parser.add_argument("--source", metavar="S", help="only events from this source")
    parser.add_argument("--actor", metavar="USER_ID", help="only events of this actor (user id)")
    parser.add_argument("--client-ip", metavar="IP", help="only events from this client address")
    parser.add_argument(
        "--where",
        action="append",
        metavar="KEY=VALUE",
        help="payload field KEY (a dotted path: user.id) equals VALUE (repeat: all must match)",
    )
    parser.add_argument(
        "--since", metavar="ISO", help="from this time on (inclusive; UTC if no offset)"
    )
    parser.add_argument("--until", metavar="ISO", help="before this time (exclusive)")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"the newest N events (default {DEFAULT_LIMIT}; 0 = all)",
    )
    parser.add_argument("--json", action="store_true", help="one canonical JSON event per line")


def run(args: argparse.Namespace) -> int:
    """
    Print the matching events, newest first; "no events" (exit 0) when none match.
    """
    if args.limit < 0:
        raise CLIError("--limit must be >= 0")
    wanted = EventFilter.from_args(args)
    if args.file is not None:
        events, label = _from_file(args.file, wanted, args.limit, rotated=not args.no_rotated)
    else:
        events, label = _from_table(args.db, args.table, wanted, args.limit)
    if args.json:
        out = sys.stdout
        for event in events:
            out.write(json_line(event) + "\n")
        if not events:
            print("no events", file=sys.stderr)
        return 0
    from rich.text import Text

    console = make_console()
    if not events:
        console.print("no events")
        return 0
    table = _table(events, label, args.limit, console.width)
    if table is not None:
        console.print(table)
        return 0
    # Too narrow for a table: one line per event, as `tail` prints them.
    console.print(Text(f"{len(events)} event(s), newest first, from {label}"), soft_wrap=True)
    for event in events:
        console.print(_line(event), soft_wrap=True)
    return 0


def _from_table(
    url: str, table_name: str, wanted: EventFilter, limit: int
) -> tuple[list[dict[str, Any]], str]:
    import sqlalchemy as sa

    from audit_logging._sinks.database import payload_conditions

    with open_audit_table(url, table_name) as src:
        table = src.table
        conditions = time_filters(table, wanted.since, wanted.until)
        if wanted.types:
            conditions.append(table.c.type.in_(sorted(wanted.types)))
        if wanted.context_id is not None:
            conditions.append(table.c.context_id == wanted.context_id)
        if wanted.source is not None:
            conditions.append(table.c.source == wanted.source)
        for option, value, column in (
            ("--actor", wanted.actor, "actor_id"),
            ("--client-ip", wanted.client_ip, "client_ip"),
        ):
            if value is None:
                continue
            if column not in table.c:
                raise CLIError(
                    f"{option}: table {table.name!r} has no {column} column (an earlier "
                    "layout: run audit_logging.setup_database on it to add it)"
                )
            conditions.append(table.c[column] == value)
        try:
            conditions += payload_conditions(src.engine, table, wanted.fields)
        except ValueError as exc:
            raise CLIError(f"--where: {safe_text(exc, 200)}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise CLIError(f"cannot query {src.label}: {src.describe(exc)}") from None
        stmt = sa.select(table).where(*conditions).order_by(table.c.time.desc(), table.c.id.desc())
        if limit:
            stmt = stmt.limit(limit)
        try:
            with src.engine.connect() as conn:
                events = [row_to_dict(row) for row in conn.execute(stmt)]
        except sa.exc.SQLAlchemyError as exc:
            raise CLIError(f"cannot query {src.label}: {src.describe(exc)}") from None
        return events, src.label


def _from_file(
    path: str, wanted: EventFilter, limit: int, *, rotated: bool
) -> tuple[list[dict[str, Any]], str]:
    """
    The newest ``limit`` matching events of the trail at ``path`` (all with 0).

    Lines that are not events are skipped and counted on stderr; an OCSF line is
    an error (it cannot be filtered, see :mod:`audit_logging._cli.files`).
    """
    names = trail_files(path, rotated=rotated)
    if not names:
        raise CLIError(f"--file: no audit file at {safe_text(path, 200)} (nor rotated backups)")
    skipped = 0
    matching = []
    for lines in (file_lines(name) for name, _ in names):
        for name, lineno, raw in lines:
            if not raw.strip():
                continue
            try:
                evt = canonical_event(raw)
            except UnfilterableFormat as exc:
                raise CLIError(f"{safe_text(name, 200)}:{lineno}: {exc}") from None
            except NotAnEvent:
                skipped += 1
                continue
            if wanted.matches(evt):
                matching.append(evt)
    if skipped:
        print(f"audit-logging query: skipped {skipped} line(s) not events", file=sys.stderr)
    if limit:
        newest = heapq.nlargest(limit, matching, key=_newest)
    else:
        newest = sorted(matching, key=_newest, reverse=True)
    return [evt.to_dict() for evt in newest], safe_text(path, 200)


def _newest(evt: Event[Any]) -> tuple[Any, str]:
    return (evt.time, evt.id)


def _table(events: list[dict[str, Any]], label: str, limit: int, width: int) -> Any:
    """
    The events as a rich table, or None when the terminal is too narrow for one.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    more = " (limit reached: --limit N for more)" if limit and len(events) == limit else ""
    table = Table(
        title=Text(f"{len(events)} event(s), newest first, from {label}{more}"),
        box=box.SIMPLE_HEAD,
        title_justify="left",
        expand=True,
    )
    # Size the payload column from what the other columns need: rich alone squeezes it.
    cells = [_cells(event) for event in events]
    natural = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(_HEADERS[:5])]
    payload_width = width - sum(natural) - 3 * len(_HEADERS) - 2
    if payload_width < _MIN_PAYLOAD:
        return None
    for header in _HEADERS[:5]:
        table.add_column(header, overflow="fold", style="dim" if header == _HEADERS[0] else None)
    table.add_column(_HEADERS[5], overflow="fold", min_width=payload_width)
    for event, (when, event_type, source, context_id, who, payload) in zip(
        events, cells, strict=True
    ):
        bad = event_type in ERROR_TYPES or is_failed_login(event_type, event.get("payload"))
        table.add_row(
            Text(when),
            Text(event_type, style="bold red" if bad else "bold cyan"),
            Text(source, style="green"),
            Text(context_id, style="magenta"),
            Text(who, style="yellow"),
            Text(payload),
        )
    return table


def _line(event: dict[str, Any]) -> Text:
    from rich.text import Text

    when, event_type, source, context_id, who, payload = _cells(event)
    bad = event_type in ERROR_TYPES or is_failed_login(event_type, event.get("payload"))
    line = Text(when, style="dim")
    line.append("  ")
    line.append(event_type, style="bold red" if bad else "bold cyan")
    line.append(f"  {source}", style="green")
    if context_id:
        line.append(f"  ctx={context_id}", style="magenta")
    if who:
        line.append(f"  by={who}", style="yellow")
    line.append(f"  {payload}")
    return line


_HEADERS = ("time (UTC)", "type", "source", "context id", "actor", "payload")
_MIN_PAYLOAD = 30


def _cells(event: dict[str, Any]) -> tuple[str, str, str, str, str, str]:
    return (
        _short_time(event.get("time")),
        safe_text(event.get("type", ""), 60),
        safe_text(event.get("source"), 40),
        safe_text(event.get("context_id"), 60),
        who_text(event.get("actor"), event.get("origin")),
        compact_payload(event.get("payload"), 300),
    )


def _short_time(value: object) -> str:
    """
    ``2026-11-27 22:42:58.176`` from the canonical ``2026-11-27T22:42:58.176403Z``.
    """
    text = safe_text(value)
    if len(text) == 27 and text[10] == "T" and text.endswith("Z"):
        return f"{text[:10]} {text[11:23]}"
    return text
