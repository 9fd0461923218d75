"""
``audit-logging verify``: prove a trail was not changed, or say where it was.

One source per run: ``--file`` (a JSON-lines log with its rotated and gzipped
backups and its ``.checkpoints`` file), ``--db`` (an audit table and its
``<table>_checkpoints`` table) or ``--kafka`` (a topic and its ``<topic>.checkpoints``
topic). The trusted checkpoint keys come from ``--key`` (repeatable), ``--keys FILE``
or ``AUDIT_INTEGRITY_VERIFIER_KEYS``; a signer key given there is reduced to its
public half. Every finding is printed on one line with its kind and location.

Exit status: 0 when no defect was found (notes such as an unverified tail do not
count, unless ``--strict``), 1 when the trail was changed, 2 for a problem the user
can fix (no keys, unreadable source). So a cron job can run it as it is.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from audit_logging._cli.common import CLIError, json_line, safe_text
from audit_logging._integrity import ENV_VERIFIER_KEYS, Keyring, Report

__all__ = ["add_arguments", "load_keyring", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``verify``.
    """
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", metavar="PATH", help="a JSON-lines audit file")
    source.add_argument("--db", metavar="URL", help="a SQLAlchemy database URL")
    source.add_argument("--kafka", metavar="SERVERS", help="Kafka bootstrap servers")
    parser.add_argument("--table", default="audit", help="the audit table (with --db)")
    parser.add_argument("--topic", help="the audit topic (with --kafka)")
    parser.add_argument(
        "--checkpoints",
        metavar="WHERE",
        help="the checkpoints' file, table or topic (default: next to the trail)",
    )
    parser.add_argument(
        "--key", action="append", default=[], metavar="KEY", help="a trusted verifier key"
    )
    parser.add_argument("--keys", metavar="FILE", help="a file of trusted verifier keys")
    parser.add_argument("--json", action="store_true", help="one JSON object for machines")
    parser.add_argument(
        "--strict", action="store_true", help="also fail on records no checkpoint covers"
    )
    parser.add_argument(
        "--allow-unsealed",
        action="store_true",
        help="accept records without integrity fields (written before integrity was on)",
    )


def load_keyring(keys: list[str], keys_file: str | None, option: str = "--keys") -> Keyring:
    """
    The trusted keys given as text, in a file and in ``AUDIT_INTEGRITY_VERIFIER_KEYS``.

    Raises:
        CLIError: the file cannot be read, a key is malformed, or there is no key.
    """
    texts = list(keys)
    try:
        if keys_file:
            with open(keys_file, encoding="utf-8") as fh:
                texts.append(fh.read())
        texts.append(os.environ.get(ENV_VERIFIER_KEYS, ""))
        keyring = Keyring.from_text("\n".join(texts))
    except OSError as exc:
        raise CLIError(f"{option}: {exc.strerror}: {safe_text(keys_file, 200)}") from None
    except ValueError as exc:
        raise CLIError(f"bad key: {exc}") from None
    if not len(keyring):
        raise CLIError(f"no trusted key: give --key, --keys or {ENV_VERIFIER_KEYS}")
    return keyring


def _verify(args: argparse.Namespace, keyring: Keyring) -> Report:
    if args.file:
        from audit_logging._sinks.file import verify_file

        try:
            return verify_file(
                args.file,
                keyring,
                checkpoint_path=args.checkpoints,
                allow_unsealed=args.allow_unsealed,
            )
        except OSError as exc:
            raise CLIError(f"--file: {safe_text(exc, 300)}") from None
    if args.db:
        from audit_logging._sinks.database import verify_database

        try:
            return verify_database(
                args.db,
                keyring,
                table=args.table,
                checkpoint_table=args.checkpoints,
                allow_unsealed=args.allow_unsealed,
            )
        except (ValueError, LookupError) as exc:
            raise CLIError(f"--db: {safe_text(exc, 300)}") from None
    if not args.topic:
        raise CLIError("--kafka needs --topic")
    from audit_logging._sinks.kafka import verify_kafka

    try:
        return verify_kafka(
            args.kafka,
            args.topic,
            keyring,
            checkpoint_topic=args.checkpoints,
            allow_unsealed=args.allow_unsealed,
        )
    except (ValueError, LookupError) as exc:
        raise CLIError(f"--kafka: {safe_text(exc, 300)}") from None


def run(args: argparse.Namespace) -> int:
    """
    Verify the trail; 0 when clean, 1 when changed.
    """
    keyring = load_keyring(args.key, args.keys)
    report = _verify(args, keyring)
    ok = report.ok(strict=args.strict)
    out = sys.stdout
    if args.json:
        out.write(json_line(report.to_dict(strict=args.strict)) + "\n")
        return 0 if ok else 1
    for finding in report.findings:
        out.write(safe_text(str(finding)) + "\n")
    defects = len(report.defects)
    verdict: Any = "OK" if ok else "CHANGED" if defects else "NOT PROVEN (--strict)"
    out.write(
        f"{verdict}: {report.records} record(s) in {report.streams} stream(s), "
        f"{report.checkpoints} checkpoint(s), {defects} defect(s)\n"
    )
    return 0 if ok else 1
