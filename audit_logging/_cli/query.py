"""
``audit-logging query``: read the audit table, newest first, as a table or JSON lines.

Every filter is a bound parameter of a SQLAlchemy Core statement, never SQL text.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from audit_logging._cli.common import (
    ERROR_TYPES,
    CLIError,
    compact_payload,
    is_failed_login,
    json_line,
    make_console,
    parse_when,
    safe_text,
    who_text,
)
from audit_logging._cli.db import open_audit_table, row_to_dict, time_filters

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["DEFAULT_LIMIT", "add_arguments", "run"]

DEFAULT_LIMIT = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``query``.
    """
    parser.add_argument("--db", required=True, metavar="URL", help="SQLAlchemy database URL")
    parser.add_argument("--table", default="audit", help="table name (default: audit)")
    parser.add_argument(
        "--type", action="append", metavar="T", help="event type (repeat for several)"
    )
    parser.add_argument("--context-id", metavar="C", help="only this request's events")
    parser.add_argument("--source", metavar="S", help="only events from this source")
    parser.add_argument("--actor", metavar="USER_ID", help="only events of this actor (user id)")
    parser.add_argument("--client-ip", metavar="IP", help="only events from this client address")
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
    import sqlalchemy as sa

    if args.limit < 0:
        raise CLIError("--limit must be >= 0")
    since = parse_when(args.since, "--since") if args.since else None
    until = parse_when(args.until, "--until") if args.until else None
    with open_audit_table(args.db, args.table) as src:
        table = src.table
        conditions = time_filters(table, since, until)
        if args.type:
            conditions.append(table.c.type.in_(args.type))
        if args.context_id is not None:
            conditions.append(table.c.context_id == args.context_id)
        if args.source is not None:
            conditions.append(table.c.source == args.source)
        for option, value, column in (
            ("--actor", args.actor, "actor_id"),
            ("--client-ip", args.client_ip, "client_ip"),
        ):
            if value is None:
                continue
            if column not in table.c:
                raise CLIError(
                    f"{option}: table {table.name!r} has no {column} column (an earlier "
                    "layout: run audit_logging.setup_database on it to add it)"
                )
            conditions.append(table.c[column] == value)
        stmt = sa.select(table).where(*conditions).order_by(table.c.time.desc(), table.c.id.desc())
        if args.limit:
            stmt = stmt.limit(args.limit)
        try:
            with src.engine.connect() as conn:
                events = [row_to_dict(row) for row in conn.execute(stmt)]
        except sa.exc.SQLAlchemyError as exc:
            raise CLIError(f"cannot query {src.label}: {src.describe(exc)}") from None
        label = src.label
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
