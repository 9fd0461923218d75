"""
The ``audit-logging`` command line (also ``python -m audit_logging``).

Commands: ``demo`` (the package's main job in one command), ``query`` (read the
audit table or a JSON-lines file), ``stats`` (read the audit table), ``setup-db``
(create or upgrade the table), ``tail`` (read the JSON-lines files),
``replay-spill`` (recover a spill directory into sinks), ``verify`` (prove a trail
unchanged), ``collect`` (a Kafka topic into a table, in a consumer group) and
``keygen`` (a checkpoint key pair). Each lives in its own
module under :mod:`audit_logging._cli`, imported only when it runs, so
``--help`` is instant and needs no optional dependency.

Exit status: 0 on success (also when a query finds no events), 1 when
``replay-spill`` could not deliver everything, ``verify`` found a defect or
``collect`` was stopped with a batch the database had not stored, 2 for
any problem the user can fix (bad argument or time, invalid URL, unreachable
database, missing table or file, missing extra), shown as one line on stderr,
never a traceback; 130 on Ctrl-C. Everything printed from the data is escaped so a payload can never
drive the terminal (see :mod:`audit_logging._cli.common`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]

_COMMANDS = {
    "demo": (
        "demo",
        "run a small simulated application into a SQLite table and a JSON-lines file",
    ),
    "query": (
        "query",
        "read the audit table or a JSON-lines file (filters by type, context, time, payload)",
    ),
    "replay-spill": ("replay", "recover a spill directory into the configured sinks"),
    "tail": ("tail", "print a JSON-lines audit file, rotated and gzipped files included"),
    "stats": ("stats", "events per type and per hour as a terminal chart"),
    "setup-db": ("setupdb", "create or upgrade the audit table and its indexes (--gin-index)"),
    "verify": ("verify", "prove a trail (file, table or topic) was not changed, or say where"),
    "collect": ("collect", "store a Kafka audit topic in a database table, exactly once per event"),
    "keygen": ("keygen", "make an Ed25519 key pair for signing checkpoints"),
}

_EPILOG = """\
start here:
  audit-logging demo
  audit-logging query --db sqlite:///audit-demo/audit.db --type auth_credentials_checked
  audit-logging query --file audit-demo/audit.jsonl --where user_id=u1
  audit-logging stats --db sqlite:///audit-demo/audit.db
  audit-logging tail --file audit-demo/audit.jsonl
  audit-logging verify --file audit-demo/audit.jsonl --keys audit-demo/checkpoint.key.pub
"""


def build_parser() -> argparse.ArgumentParser:
    """
    The argument parser of the ``audit-logging`` command.
    """
    parser = argparse.ArgumentParser(
        prog="audit-logging",
        description="audit_logging: a trustworthy audit trail for Python applications.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        _module(module).add_arguments(command)
    return parser


def _module(name: str) -> Any:
    return importlib.import_module(f"audit_logging._cli.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line; returns the exit status.
    """
    from audit_logging._cli.common import CLIError, silence_stdout

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = _module(_COMMANDS[args.command][0])
    try:
        status: int = module.run(args)
    except CLIError as exc:
        print(f"audit-logging {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"audit-logging {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `audit-logging query --json ... | head`: the reader left; not an error.
        silence_stdout()
        return 0
    return status
