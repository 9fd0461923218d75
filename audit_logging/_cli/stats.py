"""
``audit-logging stats``: events per type and per hour as terminal bar charts, with
failed logins and errors in red — what a person would rather look at than read.

Counting happens in the database (``GROUP BY``); hours are bucketed with each
backend's own function (SQLite ``strftime``, PostgreSQL ``date_trunc`` in UTC,
MySQL/MariaDB ``DATE_FORMAT``) and, on any other backend, from the time column
in Python.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson

from audit_logging._cli.common import (
    ERROR_TYPES,
    CLIError,
    is_failed_login,
    make_console,
    parse_when,
    safe_text,
)
from audit_logging._cli.db import AuditSource, open_audit_table, time_filters
from audit_logging._model.event import format_time

if TYPE_CHECKING:
    import sqlalchemy as sa
    from rich.console import Console

__all__ = ["add_arguments", "run"]

_BAR_WIDTH = 40
_MAX_HOURS = 48


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``stats``.
    """
    parser.add_argument("--db", required=True, metavar="URL", help="SQLAlchemy database URL")
    parser.add_argument("--table", default="audit", help="table name (default: audit)")
    parser.add_argument("--since", metavar="ISO", help="only events from this time on")


def run(args: argparse.Namespace) -> int:
    """
    Print the charts (or "no events", exit 0).
    """
    import sqlalchemy as sa

    since = parse_when(args.since, "--since") if args.since else None
    with open_audit_table(args.db, args.table) as src:
        try:
            with src.engine.connect() as conn:
                per_type, per_hour, failed, recent = _collect(conn, src, since)
        except sa.exc.SQLAlchemyError as exc:
            raise CLIError(f"cannot read {src.label}: {src.describe(exc)}") from None
        label = src.label
    console = make_console()
    total = sum(per_type.values())
    if not total:
        console.print("no events")
        return 0
    _render(
        console,
        label=label,
        since=since,
        per_type=per_type,
        per_hour=per_hour,
        failed=failed,
        recent=recent,
    )
    return 0


def _collect(
    conn: sa.Connection, src: AuditSource, since: _dt.datetime | None
) -> tuple[Counter[str], list[tuple[str, int]], int, list[tuple[str, str, str]]]:
    import sqlalchemy as sa

    table = src.table
    where = time_filters(table, since, None)
    count = sa.func.count()
    per_type: Counter[str] = Counter(
        {
            str(t): int(n)
            for t, n in conn.execute(
                sa.select(table.c.type, count).where(*where).group_by(table.c.type)
            )
        }
    )
    hour = _hour_expression(conn.dialect.name, table)
    if hour is not None:
        rows = conn.execute(sa.select(hour, count).where(*where).group_by(hour).order_by(hour))
        per_hour = [(str(h), int(n)) for h, n in rows]
    else:
        hours: Counter[str] = Counter()
        for (when,) in conn.execute(sa.select(table.c.time).where(*where)):
            hours[when.strftime("%Y-%m-%dT%H:00")] += 1
        per_hour = sorted(hours.items())
    failed = 0
    recent: list[tuple[str, str, str]] = []
    checks = sa.select(table.c.time, table.c.type, table.c.payload).where(
        *where, table.c.type == "auth_credentials_checked"
    )
    for _when, event_type, payload in conn.execute(checks):
        if is_failed_login(event_type, _loads(payload)):
            failed += 1
    bad = sa.select(table.c.time, table.c.type, table.c.payload).where(
        *where, table.c.type.in_(sorted({*ERROR_TYPES, "auth_credentials_checked"}))
    )
    for when, event_type, payload in conn.execute(bad.order_by(table.c.time.desc()).limit(200)):
        data = _loads(payload)
        if event_type == "auth_credentials_checked" and not is_failed_login(event_type, data):
            continue
        recent.append((format_time(when), event_type, _summary(event_type, data)))
        if len(recent) == 5:
            break
    return per_type, per_hour, failed, recent


def _loads(payload: Any) -> Any:
    try:
        return orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError):
        return None


def _summary(event_type: str, payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    if event_type == "auth_credentials_checked":
        return f"failed login for {payload.get('email', '?')}"
    for key in ("error", "message", "detail", "path"):
        if payload.get(key):
            return str(payload[key])
    return ""


def _hour_expression(dialect: str, table: sa.Table) -> Any:
    import sqlalchemy as sa

    col = table.c.time
    if dialect == "sqlite":
        return sa.func.strftime("%Y-%m-%dT%H:00", col)
    if dialect == "postgresql":
        return sa.func.to_char(
            sa.func.date_trunc("hour", sa.func.timezone("UTC", col)), 'YYYY-MM-DD"T"HH24:00'
        )
    if dialect in ("mysql", "mariadb"):
        return sa.func.date_format(col, "%Y-%m-%dT%H:00")
    return None


def _render(
    console: Console,
    *,
    label: str,
    since: _dt.datetime | None,
    per_type: Counter[str],
    per_hour: list[tuple[str, int]],
    failed: int,
    recent: list[tuple[str, str, str]],
) -> None:
    from rich import box
    from rich.bar import Bar
    from rich.table import Table
    from rich.text import Text

    total = sum(per_type.values())
    errors = sum(n for t, n in per_type.items() if t in ERROR_TYPES)
    scope = f" since {format_time(since)}" if since else ""
    console.print(Text(f"{total} events in {label}{scope}", style="bold"))
    alert = Text()
    alert.append(f"failed logins: {failed}", style="bold red" if failed else "green")
    alert.append("   ")
    alert.append(f"errors: {errors}", style="bold red" if errors else "green")
    console.print(alert)

    top = max(per_type.values())
    types = Table(title=Text("events per type"), box=box.SIMPLE, title_justify="left")
    types.add_column("type", no_wrap=True)
    types.add_column("count", justify="right")
    types.add_column("", width=_BAR_WIDTH, no_wrap=True)
    for event_type, n in sorted(per_type.items(), key=lambda item: (-item[1], item[0])):
        red = event_type in ERROR_TYPES
        style = "red" if red else "cyan"
        types.add_row(
            Text(safe_text(event_type, 40), style="bold red" if red else ""),
            str(n),
            Bar(top, 0, n, width=_BAR_WIDTH, color=style),
        )
        if event_type == "auth_credentials_checked" and failed:
            types.add_row(
                Text("  of which failed logins", style="bold red"),
                str(failed),
                Bar(top, 0, failed, width=_BAR_WIDTH, color="red"),
            )
    console.print(types)

    shown = per_hour[-_MAX_HOURS:]
    peak = max(n for _, n in shown)
    hours = Table(title=Text("events per hour (UTC)"), box=box.SIMPLE, title_justify="left")
    hours.add_column("hour", no_wrap=True)
    hours.add_column("count", justify="right")
    hours.add_column("", width=_BAR_WIDTH, no_wrap=True)
    if len(per_hour) > len(shown):
        hours.caption = f"last {len(shown)} of {len(per_hour)} hours; use --since to pick"
    for hour, n in shown:
        hours.add_row(safe_text(hour, 20), str(n), Bar(peak, 0, n, width=_BAR_WIDTH, color="cyan"))
    console.print(hours)

    if recent:
        latest = Table(
            title=Text("latest failed logins and errors"), box=box.SIMPLE, title_justify="left"
        )
        latest.add_column("time (UTC)", no_wrap=True, style="dim")
        latest.add_column("type", no_wrap=True, style="bold red")
        latest.add_column("what", overflow="fold")
        for when, event_type, what in recent:
            latest.add_row(Text(when), Text(safe_text(event_type, 40)), Text(safe_text(what, 200)))
        console.print(latest)
