"""
``audit-logging collect``: consume an audit topic in a consumer group and store it in
a database table, exactly once per event id (README, "Scaling out").

Run several in one ``--group`` and they share the topic's partitions; a killed one's
partitions move to the others, which store its uncommitted records again as no-ops.
Offsets are committed only once the table holds a batch; while the database is
down the collector waits (offsets uncommitted) and offers the batch again.
``--verify-key``/``--verify-keys`` verify the streams as they come (the collector
must then hold every partition: run one verifying collector alone in its group).

Exit status: 0 after SIGTERM or Ctrl-C once the batch in hand is stored and
committed; 1 when it was stopped while the database was down (that batch stays
uncommitted, for the next collector); 2 for a problem the user can fix (bad
option, invalid or unreachable database, missing extra), the password masked.
The counters are printed on stderr at exit (``--json``: one JSON object on stdout).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from audit_logging._cli.common import CLIError, json_line, safe_text
from audit_logging._cli.sinks import add_kafka_options, parse_api_version
from audit_logging.exceptions import MissingDependencyError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``collect``.
    """
    parser.add_argument("--bootstrap", required=True, metavar="SERVERS", help="host:port[,...]")
    parser.add_argument("--topic", required=True, help="the audit topic the Kafka sink writes")
    parser.add_argument("--group", required=True, help="the consumer group collectors share")
    parser.add_argument("--db", required=True, metavar="URL", help="a SQLAlchemy database URL")
    parser.add_argument("--table", default="audit", help="the audit table (default: audit)")
    add_kafka_options(parser, "--backend", "confluent")
    parser.add_argument("--batch-size", type=int, default=500, help="records per commit")
    parser.add_argument(
        "--session-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a member silent this long (killed) leaves the group (default: 10)",
    )
    parser.add_argument(
        "--dead-letter-dir",
        metavar="DIR",
        help="where undecodable records and rows the table cannot hold are written",
    )
    parser.add_argument(
        "--verify-key", action="append", default=[], metavar="KEY", help="a trusted verifier key"
    )
    parser.add_argument("--verify-keys", metavar="FILE", help="a file of trusted verifier keys")
    parser.add_argument("--checkpoint-topic", metavar="TOPIC", help="default: <topic>.checkpoints")
    parser.add_argument("--json", action="store_true", help="print the counters as JSON at exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log assignments too")


def _sink(args: argparse.Namespace) -> Any:
    from audit_logging._sinks import database as sink

    try:
        sink.validate_table_name(args.table)
        url = sink.parse_url(args.db)
    except MissingDependencyError as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(f"--db/--table: {safe_text(exc, 200)}") from None
    label = safe_text(sink.masked_url(url), 200)
    try:
        engine = sink.create_audit_engine(url)
        sink.has_table(engine, args.table)  # reachable now (the sink creates the table)
    except Exception as exc:
        raise CLIError(
            f"--db: cannot use {label}: {safe_text(sink.describe_error(exc, url), 300)}"
        ) from None
    try:
        return sink.DatabaseHandler(
            engine, table=args.table, batch_size=500, dead_letter_dir=args.dead_letter_dir
        )
    except ValueError as exc:
        engine.dispose()
        raise CLIError(safe_text(exc, 300)) from None


def _collector(args: argparse.Namespace, handler: Any) -> Any:
    from audit_logging._collect import Collector

    keyring = None
    if args.verify_key or args.verify_keys:
        from audit_logging._cli.verify import load_keyring

        keyring = load_keyring(args.verify_key, args.verify_keys, "--verify-keys")
    config: dict[str, Any] = {}
    version = parse_api_version(args.kafka_api_version)
    if version is not None and args.backend == "kafka-python":
        config["api_version"] = version
    try:
        return Collector(
            args.bootstrap,
            args.topic,
            args.group,
            handler,
            backend=args.backend,
            consumer_config=config,
            batch_size=args.batch_size,
            session_timeout=args.session_timeout,
            dead_letter_dir=args.dead_letter_dir,
            verify_keys=keyring,
            checkpoint_topic=args.checkpoint_topic,
        )
    except MissingDependencyError as exc:
        raise CLIError(f"--backend {args.backend}: {exc}") from None
    except ValueError as exc:
        raise CLIError(safe_text(exc, 300)) from None


def _log_to_stderr(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("audit-logging collect: %(levelname)s %(message)s"))
    root = logging.getLogger("audit_logging")
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("audit_logging.collector").setLevel(
        logging.INFO if verbose else logging.WARNING
    )


def run(args: argparse.Namespace) -> int:
    """
    Collect until SIGTERM or Ctrl-C; 0 when the last batch was committed.
    """
    handler = _sink(args)
    _log_to_stderr(args.verbose)
    try:
        collector = _collector(args, handler)
    except CLIError:
        handler.close()
        handler.engine.dispose()
        raise

    def stop(_signum: int, _frame: Any) -> None:
        collector.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        clean = collector.run()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        collector.close()
        handler.close()
        handler.engine.dispose()  # built here, so closed here (the sink leaves a given engine)
    counters = collector.stats.to_dict()
    verifier = collector.verifier
    if verifier is not None:
        counters.update(
            verified=verifier.verified, unverified=verifier.unverified, defects=verifier.defects
        )
    if args.json:
        sys.stdout.write(json_line(counters) + "\n")
    else:
        text = ", ".join(f"{k}={v}" for k, v in counters.items())
        sys.stderr.write(f"audit-logging collect: stopped: {text}\n")
    return 0 if clean else 1
