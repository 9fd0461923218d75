"""
``audit-logging setup-db``: create the audit table and its indexes, or bring an existing
table up to the current layout (the columns and indexes a newer version added).

The same as :func:`audit_logging.sinks.database.setup_database`, from the shell:
idempotent, safe to run at every deploy. On PostgreSQL it adds the generated JSONB
column ``payload_json`` (an existing table is rewritten once, under an exclusive
lock: run it in a quiet moment) and, with ``--gin-index``, the GIN index on it.
What the table has afterwards is printed, so the run doubles as a check.
"""

from __future__ import annotations

import argparse

from audit_logging._cli.common import CLIError, make_console, safe_text
from audit_logging.exceptions import DatabaseSinkError, MissingDependencyError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``setup-db``.
    """
    parser.add_argument("--db", required=True, metavar="URL", help="SQLAlchemy database URL")
    parser.add_argument("--table", default="audit", help="table name (default: audit)")
    parser.add_argument(
        "--gin-index",
        action="store_true",
        help="PostgreSQL: also a GIN index on the JSONB payload (fast --where; costs writes)",
    )


def run(args: argparse.Namespace) -> int:
    """
    Create or upgrade the table, then print its indexes and (PostgreSQL) its JSONB column.
    """
    from rich.text import Text

    try:
        from audit_logging._sinks import database as sink

        sink.validate_table_name(args.table)
        engine = sink.setup_database(args.db, args.table, gin_index=args.gin_index)
    except MissingDependencyError as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(safe_text(exc, 300)) from None
    except DatabaseSinkError as exc:
        raise CLIError(safe_text(exc, 400)) from None
    import sqlalchemy as sa

    try:
        inspector = sa.inspect(engine)
        columns = {c["name"] for c in inspector.get_columns(args.table)}
        indexes = sorted(
            (str(i["name"]), ", ".join(map(str, i["column_names"])) or "expression")
            for i in inspector.get_indexes(args.table)
        )
        label = safe_text(sink.masked_url(engine), 200)
    finally:
        engine.dispose()
    console = make_console()
    console.print(Text(f"table {args.table} ready in {label}"), soft_wrap=True)
    for name, on in indexes:
        console.print(Text(f"  index {name} ({on})"), soft_wrap=True)
    if engine.dialect.name == "postgresql":
        jsonb = "payload_json" in columns
        console.print(Text(f"  JSONB payload column: {'payload_json' if jsonb else 'none'}"))
        if args.gin_index and not any(n.endswith("payload_json") for n, _ in indexes):
            raise CLIError("the GIN index was not created (see the warnings above)")
    elif args.gin_index:
        console.print(Text("  --gin-index applies to PostgreSQL only: nothing to do here"))
    return 0
