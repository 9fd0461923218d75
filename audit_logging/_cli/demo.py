"""
``audit-logging demo``: the package's main job in one command.

A small simulated application (HTTP requests, logins with a failed credential
check, work items created, assigned and commented, a database error, a
``logger.warning``) publishes audit events through the direct API and through
stdlib logging, each request under its own context id, onto an asynchronous bus
whose file and database sinks store them (``./audit-demo/audit.jsonl`` and
``./audit-demo/audit.db`` by default; ``--db``, ``--file`` and ``--kafka`` point
elsewhere). What it stores is sealed and its checkpoints signed by a key made in
the demo directory (:mod:`~audit_logging._cli.demo_trail`; ``--no-integrity``
turns that off), so ``audit-logging verify`` can prove it. Then it prints what
happened: events per type, delivered, spilled and dropped counts, where the data
is, and commands to look at it.

Running it again appends (event ids are unique, the file is opened for append,
the table is created only if missing) and first replays anything a previous run
left in the spill directory.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from audit_logging._bridges.handler import AuditHandler
from audit_logging._cli.common import CLIError, make_console, safe_text
from audit_logging._cli.demo_trail import demo_key, open_sinks
from audit_logging._cli.sinks import add_kafka_options, kafka_handler
from audit_logging._engine.bus import Bus, Delivery
from audit_logging._model import factories as f
from audit_logging._model.context import bind_context_id
from audit_logging._model.event import EVENT_ANY, Event
from audit_logging._model.scope import Actor, Origin, Scope, bind_scope, set_actor
from audit_logging.exceptions import AuditError

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.engine import Engine

__all__ = ["DEFAULT_DIR", "DEFAULT_EVENTS", "PROGRESS_THRESHOLD", "add_arguments", "run"]

DEFAULT_DIR = "audit-demo"
DEFAULT_EVENTS = 500
PROGRESS_THRESHOLD = 10_000
"""Runs with more events than this show a progress bar."""

_SOURCE = "demo.api"
_LOGGER = "demo.app"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``demo``.
    """
    parser.add_argument(
        "--dir",
        default=DEFAULT_DIR,
        help=f"where the demo keeps its data (default ./{DEFAULT_DIR})",
    )
    parser.add_argument(
        "--db", metavar="URL", help="SQLAlchemy URL (default: sqlite:///DIR/audit.db)"
    )
    parser.add_argument("--file", metavar="PATH", help="JSON-lines file (default: DIR/audit.jsonl)")
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        metavar="N",
        help=f"how many application events to publish (default {DEFAULT_EVENTS})",
    )
    parser.add_argument("--kafka", metavar="BOOTSTRAP", help="also send to Kafka (host:port,...)")
    parser.add_argument("--topic", default="audit", help="Kafka topic (default: audit)")
    parser.add_argument(
        "--no-integrity",
        action="store_true",
        help="store plain records (default: sealed, with checkpoints signed by DIR/checkpoint.key)",
    )
    add_kafka_options(parser)


class _Tally:
    """
    Counts what the demo published, per type and per outcome.
    """

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.types: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.total = 0

    def publish(self, evt: Event[Any]) -> Delivery:
        outcome = self.bus.publish(evt)
        self.types[evt.type] += 1
        self.outcomes[outcome.value] += 1
        self.total += 1
        return outcome

    def logged(self, event_type: str) -> None:
        """
        Count an event that went through stdlib logging and the AuditHandler.
        """
        self.types[event_type] += 1
        self.total += 1


def _requests(
    publish: Callable[[Event[Any]], Delivery],
    log: logging.Logger,
    logged: Callable[[str], None],
) -> Iterator[str]:
    """
    Simulate requests forever; yields after each event, so the caller stops at exactly N.

    The first five requests cover every scenario: failed login (with a warning
    through stdlib logging), work item, database error, comment, good login. Each
    request has an origin (a documentation-range client address and a user agent)
    and, except the logins, a signed-in actor; a good login makes its user the
    actor of the rest of its request.
    """
    run = secrets.token_hex(3)
    n = 0
    while True:
        for kind in ("login_failed", "work_item", "db_error", "comment", "login", "get", "get"):
            n += 1
            user = f"user-{n % 97:02d}"
            email = f"{user}@example.com"
            item = f"WI-{n:05d}"
            ctx = f"req-{run}-{n:05d}"
            method, path = _ROUTES[kind]
            path = path.format(item=item)
            origin = Origin(f"203.0.113.{n % 250 + 1}", "demo-client/1.0", method, path)
            login = kind in ("login_failed", "login")
            actor = None if login else Actor(user, user, "session")
            with bind_context_id(ctx), bind_scope(Scope(actor, origin)):
                publish(f.new_http_request_received(_SOURCE, method, path))
                yield ctx
                status = 200
                if kind in ("login_failed", "login"):
                    ok = kind == "login"
                    publish(f.new_auth_credentials_checked(_SOURCE, email, ok))
                    yield ctx
                    if ok:
                        set_actor(user_id=user, username=user, auth_method="password")
                        publish(f.new_auth_login(_SOURCE, user))
                    else:
                        publish(f.new_auth_login_failed(_SOURCE, email, "invalid_credentials"))
                        yield ctx
                        log.warning("login failed", extra={"user": user, "attempt": "1"})
                        logged("log_warning")
                        status = 401
                    yield ctx
                elif kind == "work_item":
                    publish(f.new_work_item_created(_SOURCE, item, {"title": f"Task {n}"}))
                    yield ctx
                    publish(f.new_work_item_assigned(_SOURCE, item, user))
                    yield ctx
                    status = 201
                elif kind == "comment":
                    comment = f"C-{n:05d}"
                    publish(f.new_comment_added(_SOURCE, comment, item, "Looks good to me"))
                    yield ctx
                    status = 201
                elif kind == "db_error":
                    query = "SELECT * FROM reports WHERE owner = ?"
                    publish(f.new_db_error(_SOURCE, query, TimeoutError("statement timeout")))
                    yield ctx
                    status = 500
                publish(f.new_http_response_sent(_SOURCE, status, 0.004 + (n % 7) / 1000))
                yield ctx


_ROUTES = {
    "login_failed": ("POST", "/login"),
    "login": ("POST", "/login"),
    "work_item": ("POST", "/items"),
    "comment": ("POST", "/items/{item}/comments"),
    "db_error": ("GET", "/reports"),
    "get": ("GET", "/items/{item}"),
}


def _display_url(path: str) -> str:
    rel = os.path.relpath(path)
    return f"sqlite:///{rel if not rel.startswith('..') else os.path.abspath(path)}"


def run(args: argparse.Namespace) -> int:
    """
    Run the simulated application, close the bus and print the summary.
    """
    if args.events < 1:
        raise CLIError("--events must be >= 1")
    console = make_console()
    kafka = (
        kafka_handler(args.kafka, args.topic, args.kafka_backend, args.kafka_api_version)
        if args.kafka
        else None
    )
    problems: list[str] = []

    def on_error(exc: BaseException, evt: Event[Any] | None) -> None:
        problems.append(f"{type(exc).__name__}: {exc}")

    directory = args.dir
    db_url = args.db or _display_url(os.path.join(directory, "audit.db"))
    file_path = args.file or os.path.join(directory, "audit.jsonl")
    spill_dir = os.path.join(directory, "spill")
    engine: Engine | None = None
    try:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise CLIError(
                f"--dir: cannot create {safe_text(directory, 200)}: {exc.strerror}"
            ) from None
        engine = _open_database(db_url)
        from audit_logging._sinks.database import masked_url

        if args.db:
            db_url = masked_url(engine)
        try:
            bus = Bus(spillover_dir=spill_dir, buffer_size=50_000, error_func=on_error)
        except (OSError, ValueError) as exc:
            raise CLIError(f"spill directory {safe_text(spill_dir, 200)}: {exc}") from None
    except CLIError:
        if kafka is not None:
            kafka.close()
        if engine is not None:
            engine.dispose()
        raise
    handler: AuditHandler | None = None
    log = logging.getLogger(_LOGGER)
    finished = False
    try:
        try:
            key, public_key = (None, "") if args.no_integrity else demo_key(directory)
            open_sinks(bus, engine, file_path, key)
        except (OSError, ValueError, AuditError) as exc:
            raise CLIError(f"cannot open the sinks: {safe_text(exc, 300)}") from None
        if kafka is not None:
            bus.subscribe(EVENT_ANY, kafka, name="kafka")
        replayed = bus.recover_spillover()
        tally = _Tally(bus)
        handler = AuditHandler(bus)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        started = time.perf_counter()
        example = _simulate(console, tally, log, args.events)
        bus.close()
        elapsed = time.perf_counter() - started
        finished = True
    finally:
        if handler is not None:
            log.removeHandler(handler)
        bus.close()
        if not finished:
            if kafka is not None:
                kafka.close()
            engine.dispose()
    stored = _count_rows(engine)
    engine.dispose()
    _summary(
        console,
        tally=tally,
        bus=bus,
        elapsed=elapsed,
        replayed=replayed,
        problems=problems,
        where={
            "db": safe_text(db_url, 300),
            "rows": stored,
            "file": file_path,
            "spill": spill_dir,
            "keys": public_key,
        },
        kafka=f"{args.kafka} topic {args.topic}" if args.kafka else None,
        example=example,
    )
    return 0


def _open_database(url: str) -> Engine:
    try:
        from audit_logging._sinks.database import setup_database
    except ImportError as exc:
        raise CLIError(safe_text(exc, 300)) from None
    try:
        return setup_database(url)
    except (ValueError, AuditError, ImportError) as exc:
        raise CLIError(f"--db: {safe_text(exc, 300)}") from None


def _simulate(console: Console, tally: _Tally, log: logging.Logger, total: int) -> str:
    """
    Publish ``total`` events; returns the context id of the first (failed-login) request.
    """
    steps = _requests(tally.publish, log, tally.logged)
    first = ""
    if total <= PROGRESS_THRESHOLD:
        for ctx in itertools.islice(steps, total):
            first = first or ctx
        return first
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("publishing", total=total)
        for done, ctx in enumerate(itertools.islice(steps, total), 1):
            first = first or ctx
            if done % 1000 == 0:
                progress.update(task, completed=done)
        progress.update(task, completed=total)
    return first


def _count_rows(engine: Engine) -> int | None:
    import sqlalchemy as sa

    from audit_logging._sinks.database import audit_table

    table = audit_table(sa.MetaData())
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    except sa.exc.SQLAlchemyError:
        return None


def _summary(
    console: Console,
    *,
    tally: _Tally,
    bus: Bus,
    elapsed: float,
    replayed: int,
    problems: list[str],
    where: dict[str, Any],
    kafka: str | None,
    example: str,
) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    stats = bus.stats()
    rate = tally.total / elapsed if elapsed > 0 else 0.0
    console.print(
        Text(
            f"audit-logging demo: {tally.total} events published in {elapsed:.2f} s "
            f"({rate:,.0f} events/s), bus closed cleanly",
            style="bold",
        ),
        soft_wrap=True,
    )
    if replayed:
        console.print(Text(f"replayed {replayed} event(s) a previous run had spilled"))

    types = Table(title=Text("events per type"), box=box.SIMPLE, title_justify="left")
    types.add_column("type", no_wrap=True)
    types.add_column("count", justify="right")
    types.add_column("via")
    for event_type, n in sorted(tally.types.items()):
        via = "stdlib logging" if event_type.startswith("log_") else "direct API"
        types.add_row(event_type, str(n), via)
    lifecycle = int(stats["published"]) - tally.total
    if lifecycle > 0:
        types.add_row("audit_bus_*", str(lifecycle), "the bus auditing itself")
    console.print(types)

    outcome = Table(title=Text("delivery"), box=box.SIMPLE, title_justify="left")
    outcome.add_column("outcome")
    outcome.add_column("count", justify="right")
    for sub in bus.subscriptions:
        if not sub.internal:
            outcome.add_row(f"delivered to {sub.name}", str(sub.delivered))
    dropped = stats["dropped"]
    outcome.add_row("spilled (kept on disk, replayed next run)", str(stats["spilled"]))
    outcome.add_row("dropped", str(sum(dropped.values())))
    for reason, n in sorted(dropped.items()):
        outcome.add_row(f"  dropped: {reason}", str(n))
    for name in ("rejected", "sampled_out"):
        if tally.outcomes.get(name):
            outcome.add_row(name.replace("_", " "), str(tally.outcomes[name]))
    console.print(outcome)
    if problems:
        console.print(
            Text(f"{len(problems)} problem(s) reported; first: {safe_text(problems[0], 200)}"),
            style="yellow",
        )

    rows = where["rows"]
    console.print(Text("where the data is", style="bold"))
    lines = [
        f"  database   {where['db']}  (table audit"
        + (f", {rows} rows in total)" if rows is not None else ")"),
        f"  JSON lines {safe_text(where['file'], 200)}",
        f"  spill dir  {safe_text(where['spill'], 200)}",
    ]
    if where["keys"]:
        lines.append(
            f"  integrity  sealed; checkpoints signed by the key in {safe_text(where['keys'], 200)}"
        )
    for line in lines:
        console.print(Text(line), soft_wrap=True)
    if kafka:
        console.print(Text(f"  Kafka      {safe_text(kafka, 200)}"), soft_wrap=True)
    console.print(Text("try", style="bold"))
    db = where["db"]
    for command in (
        f"audit-logging query --db {db} --context-id {example}",
        f"audit-logging query --db {db} --type auth_credentials_checked --limit 5",
        f"audit-logging stats --db {db}",
        f"audit-logging tail --file {where['file']}",
        *(
            [
                f"audit-logging verify --file {where['file']} --keys {where['keys']}",
                f"audit-logging verify --db {db} --keys {where['keys']}",
            ]
            if where["keys"]
            else []
        ),
    ):
        console.print(Text(f"  {safe_text(command, 300)}", style="cyan"), soft_wrap=True)
