"""
``audit-logging replay-spill``: recover a spill directory into sinks given on the
command line, and say how many events went where.

Each spilled line is marked with the subscription it was spilled for, or for
all. A line goes to the given sinks it is meant for: ``--file`` takes lines
marked ``file``, ``--db`` lines marked ``db`` (the README's and dictConfig's
name) or ``database`` (:func:`~audit_logging._bridges.setup.setup_logging`'s),
``--kafka`` lines marked ``kafka``; ``--route NAME=file|db|kafka`` adds the
names an application gave its own sinks. A line for a subscription not given
here is kept in the directory for a later run (``--any-subscription`` sends
every line to every given sink instead).

Exit status: 0 when every line reached its sinks; 1 when anything was left
undelivered (a sink failed, lines kept for subscriptions not given, corrupt
lines quarantined), with how many and why: a cron job or a deploy script
must not read "0" as "the spill is empty".

Durability: a line is removed only after every target stored it — the file
sink writes through, the database sink is flushed (one transaction per event),
Kafka is flushed — so a crash or an outage during the replay loses nothing; at
worst one event is stored twice (the database ignores the duplicate id). When a
sink fails, it is not tried again in this run: the remaining lines for it are
kept, and the command exits 1.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from audit_logging._cli.common import CLIError, make_console, safe_text
from audit_logging._cli.sinks import add_kafka_options, kafka_handler
from audit_logging._model.event import Event
from audit_logging.exceptions import MissingDependencyError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``replay-spill``.
    """
    parser.add_argument("--dir", required=True, metavar="DIR", help="the spill directory")
    parser.add_argument("--db", metavar="URL", help="replay into this database (SQLAlchemy URL)")
    parser.add_argument("--table", default="audit", help="table name (default: audit)")
    parser.add_argument("--file", metavar="PATH", help="replay into this JSON-lines file")
    parser.add_argument("--kafka", metavar="BOOTSTRAP", help="replay into Kafka (host:port,...)")
    parser.add_argument("--topic", default="audit", help="Kafka topic (default: audit)")
    add_kafka_options(parser)
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="NAME=SINK",
        help="also replay lines spilled for subscription NAME into SINK (file, db or kafka)",
    )
    parser.add_argument(
        "--any-subscription",
        action="store_true",
        help="send every spilled event to every given sink, whatever it was spilled for",
    )


class _Target:
    """
    One sink of the replay, with what it took and whether it failed.
    """

    def __init__(self, name: str, where: str, handler: Any, *aliases: str) -> None:
        self.name = name
        self.names = {name, *aliases}
        self.where = where
        self.handler = handler
        self.stored = 0
        self.error: BaseException | None = None
        handler.set_failure_callback(self._failed)

    def _failed(self, events: Sequence[Event[Any]], exc: BaseException) -> None:
        self.error = exc

    def store(self, evt: Event[Any]) -> bool:
        if self.error is not None:
            return False
        try:
            self.handler.write_event(evt)
            self.handler.flush()
        except Exception as exc:
            self.error = exc
        if self.error is not None:
            return False
        self.stored += 1
        return True


def _targets(args: argparse.Namespace) -> list[_Target]:
    targets: list[_Target] = []
    try:
        if args.file:
            from audit_logging._sinks.file import RotatingJSONFileHandler

            handler = RotatingJSONFileHandler(args.file, flush_interval=0)
            targets.append(_Target("file", safe_text(args.file, 200), handler))
        if args.db:
            from audit_logging._sinks.database import DatabaseHandler, masked_url

            db = DatabaseHandler(args.db, table=args.table, retry_count=2, retry_delay=0.2)
            where = safe_text(masked_url(db.engine), 200)
            targets.append(_Target("database", where, db, "db"))
        if args.kafka:
            handler = kafka_handler(
                args.kafka, args.topic, args.kafka_backend, args.kafka_api_version
            )
            targets.append(_Target("kafka", f"{safe_text(args.kafka)} topic {args.topic}", handler))
    except CLIError:
        _close(targets)
        raise
    except (MissingDependencyError, ValueError, OSError) as exc:
        _close(targets)
        raise CLIError(f"cannot open the sink: {safe_text(exc, 300)}") from None
    return targets


def _close(targets: list[_Target]) -> None:
    for target in targets:
        try:
            target.handler.close()
        except Exception as exc:
            target.error = target.error or exc


def _spill_key() -> bytes | None:
    raw = os.environ.get("AUDIT_SPILL_KEY", "")
    if not raw.strip():
        return None
    from audit_logging._engine.settings import BusConfig

    try:
        return BusConfig.from_env({"AUDIT_SPILL_KEY": raw}).spill_key
    except ValueError as exc:
        raise CLIError(safe_text(exc, 200)) from None


def run(args: argparse.Namespace) -> int:
    """
    Replay the directory; exit 0 when every event reached its sinks, 1 when a sink failed.
    """
    from audit_logging._engine.spill.store import SpillError, SpillStore

    if not (args.db or args.file or args.kafka):
        raise CLIError(
            "replay-spill: give at least one of --db URL, --file PATH, --kafka BOOTSTRAP"
        )
    if not os.path.isdir(args.dir):
        raise CLIError(f"--dir: no spill directory at {safe_text(args.dir, 200)}")
    key = _spill_key()
    try:
        store = SpillStore(args.dir, key=key, fsync="always")
    except (SpillError, ValueError, TypeError) as exc:
        raise CLIError(f"--dir: {safe_text(exc, 300)}") from None
    routes = _routes(args.route)
    targets = _targets(args)
    by_name = {alias: t for t in targets for alias in t.names}
    for name, kind in routes.items():
        target = by_name.get(kind)
        if target is None:
            _close(targets)
            store.close()
            raise CLIError(f"--route {safe_text(name, 60)}={kind}: no --{kind} sink given")
        by_name[name] = target
    unknown: Counter[str] = Counter()
    bad: list[str] = []

    def deliver(evt: Event[Any], subscription: str | None) -> bool:
        if subscription is None or args.any_subscription:
            chosen = targets
        elif subscription in by_name:
            chosen = [by_name[subscription]]
        else:
            unknown[subscription] += 1
            return False
        ok = True
        for target in chosen:
            ok = target.store(evt) and ok
        return ok

    def bad_line(path: str, lineno: int, reason: str) -> None:
        bad.append(f"{os.path.basename(path)}:{lineno}: {reason}")

    try:
        result = store.recover(deliver, on_bad_line=bad_line)
    except SpillError as exc:
        raise CLIError(f"replay stopped: {safe_text(exc, 300)}") from None
    finally:
        _close(targets)
        store.close()
    _report(
        args.dir,
        replayed=result.replayed,
        kept=result.kept,
        targets=targets,
        unknown=unknown,
        bad=bad,
    )
    failed = any(t.error is not None for t in targets)
    return 1 if failed or result.kept or bad else 0


_KINDS = {"file": "file", "db": "database", "database": "database", "kafka": "kafka"}


def _routes(given: list[str]) -> dict[str, str]:
    routes: dict[str, str] = {}
    for item in given:
        name, sep, kind = item.partition("=")
        if not sep or not name or kind not in _KINDS:
            raise CLIError(
                f"--route {safe_text(item, 80)}: expected NAME=file, NAME=db or NAME=kafka"
            )
        routes[name] = "db" if _KINDS[kind] == "database" else kind
    return routes


def _report(
    directory: str,
    *,
    replayed: int,
    kept: int,
    targets: list[_Target],
    unknown: Counter[str],
    bad: list[str],
) -> None:
    from rich.text import Text

    console = make_console()
    console.print(Text(f"replayed {replayed} spilled event(s) from {safe_text(directory, 200)}"))
    for target in targets:
        line = Text(f"  {target.stored} -> {target.name} ({target.where})")
        if target.error is not None:
            line.append(
                f"  FAILED: {type(target.error).__name__}: {safe_text(target.error, 200)}",
                style="bold red",
            )
        console.print(line)
    if kept:
        why = ", ".join(f"{n} for {safe_text(name, 60)!r}" for name, n in sorted(unknown.items()))
        detail = f" ({why}; add that sink or use --any-subscription)" if why else ""
        console.print(Text(f"  {kept} kept in the spill directory for a later run{detail}"))
    if bad:
        console.print(
            Text(
                f"  {len(bad)} corrupt line(s) quarantined in "
                f"{safe_text(directory, 200)}/quarantine:"
            )
        )
        for item in bad[:10]:
            console.print(Text(f"    {safe_text(item, 200)}", style="yellow"))
