"""
The ``audit-logging`` command line (also ``python -m audit_logging``).

The commands themselves arrive with the CLI issue; until then ``--help``
lists them and each says it is not available yet.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

_COMMANDS = {
    "demo": "run a small simulated application into a SQLite table and a JSON-lines file",
    "query": "read the audit table (filters by type, context id, source, time range)",
    "replay-spill": "recover a spill directory into the configured sinks",
    "tail": "print a JSON-lines audit file, rotated and gzipped files included",
    "stats": "events per type and per hour as a terminal chart",
}


def build_parser() -> argparse.ArgumentParser:
    """
    The argument parser of the ``audit-logging`` command.
    """
    parser = argparse.ArgumentParser(
        prog="audit-logging",
        description="audit_logging: a trustworthy audit trail for Python applications.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in _COMMANDS.items():
        sub.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line; returns the exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print(f"audit-logging {args.command}: not available in this version yet", file=sys.stderr)
    return 2
