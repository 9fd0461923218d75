"""
No secret reaches a stored artifact, whatever shape it arrives in (property-based).

Hypothesis generates a secret and one of the shapes the redaction engine knows
(keys, plurals, prefixes, bytes keys, header pairs, DSNs in every form, cloud
signatures, bearer tokens, PEM blocks, JWTs, ``mysql -p``, card numbers, objects
whose ``str()`` holds one, the event source, exception messages) and sends it
the three ways an application does: ``bus.publish``, a logger through
``AuditHandler``, and a logger straight into a sink with no bus. Then it looks
for the secret in every artifact: the history (and the events' ``repr``), the
JSON file, each database (SQLite, PostgreSQL, MariaDB), the spill files and
every error text the bus reported. The Kafka values and the CLI's output are
checked once per shape with a fixed secret (a broker round trip per example
would cost minutes). Fixed seed and a bounded number of examples, so CI runs
the same cases every time.
"""

from __future__ import annotations

import logging
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from audit_logging import EVENT_ANY, AuditHandler, Bus, new_event
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests.sinks.conftest import Database
from tests.sinks.kafka_fixtures import (  # noqa: F401 - the fixture is used below
    consume_all,
    mock_broker,
    unique_topic,
)

pytest.importorskip("sqlalchemy")
pytest.importorskip("kafka")  # imported at collection: its first import warns

Shape = Callable[[str], tuple[str, Any]]
"""secret -> (source, payload)"""


class _Holder:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _luhn_complete(body: str) -> str:
    """``body`` with the check digit that makes it pass the Luhn test."""
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            n = int(ch)
            if i % 2:
                n = n * 2 - 9 if n > 4 else n * 2
            total += n
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


SHAPES: dict[str, Shape] = {
    "key": lambda s: ("api", {"password": s}),
    "plural": lambda s: ("api", {"passwords": [s, "x"]}),
    "prefixed": lambda s: ("api", {"X-Api-Key": s}),
    "bytes key": lambda s: ("api", {b"token": s}),
    "header pairs": lambda s: ("api", {"headers": [("Cookie", f"sid={s}"), ("A", "b")]}),
    "asgi headers": lambda s: ("api", {"headers": [[b"authorization", f"Bearer {s}".encode()]]}),
    "nested": lambda s: ("api", {"a": [{"b": {"secret_key": s}}]}),
    "dsn userinfo": lambda s: ("db", {"message": f"connect postgresql://app:{s}@db/x failed"}),
    "dsn query": lambda s: ("db", {"dsn": f"postgresql+psycopg://db/x?password={s}"}),
    "libpq": lambda s: ("db", {"message": f"host=db user=app password={s} dbname=x"}),
    "env text": lambda s: ("cfg", {"message": f"loaded SECRET_KEY={s} from env"}),
    "bearer": lambda s: ("api", {"message": f"Authorization: Bearer {s}"}),
    "cloud signature": lambda s: ("s3", {"url": f"https://b.s3/x?X-Amz-Signature={s}&a=1"}),
    "mysql": lambda s: ("ops", {"message": f"ran mysqldump -uroot -p{s} shop"}),
    "pem": lambda s: ("ops", {"key": "see below", "message": f"-----BEGIN PRIVATE KEY-----\n{s}\n"
                              "-----END PRIVATE KEY-----"}),
    "jwt": lambda s: ("api", {"message": f"got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{s} ok"}),
    "str()": lambda s: ("api", {"conn": _Holder(f"Conn(session_id={s})")}),
    "exception": lambda s: ("api", {"error": ValueError(f"bad password={s}")}),
    "source": lambda s: (f"worker token={s}", {"ok": True}),
}  # fmt: skip

secrets_ = st.text(string.ascii_letters + string.digits, min_size=8, max_size=24).map(
    lambda body: f"Zq{body}X9"
)
cards = st.text("0123456789", min_size=14, max_size=14).map(lambda b: _luhn_complete("4" + b))
ROUTES = ("publish", "audit handler", "plain logger")
# The same cases in every run (CI included); the sinks are shared by the examples on purpose.
PROPERTY = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Artifacts:
    """One bus with every artifact: history, file, database, spill, error texts."""

    def __init__(self, tmp: Path, db: Database) -> None:
        self.tmp = tmp
        self.db = db
        self.errors: list[str] = []
        self.table = db.new_table()
        self.file = RotatingJSONFileHandler(tmp / "audit.log", flush_interval=0)
        self.database = DatabaseHandler(db.url, table=self.table, flush_interval=60)
        self.bus = Bus(
            asynchronous=False,
            spillover_dir=tmp / "spill",
            lifecycle_events=False,
            circuit_max_fails=0,
            error_func=lambda exc, evt=None: self.errors.append(f"{exc!r} {exc}"),
        )
        self.bus.subscribe(EVENT_ANY, self.file, name="file")
        self.bus.subscribe(EVENT_ANY, self.database, name="db")
        self.bus.subscribe(EVENT_ANY, self._refuse, name="always-fails")  # its copies spill
        self.via_bus = logging.getLogger(f"secrets.bus.{db.name}")
        self.via_bus.addHandler(AuditHandler(self.bus))
        self.direct = logging.getLogger(f"secrets.direct.{db.name}")
        self.direct_sink = RotatingJSONFileHandler(tmp / "direct.log", flush_interval=0)
        self.direct.addHandler(self.direct_sink)
        for logger in (self.via_bus, self.direct):
            logger.setLevel(logging.INFO)
            logger.propagate = False

    @staticmethod
    def _refuse(evt: Any) -> None:
        raise RuntimeError("sink down")

    def send(self, route: str, source: str, payload: Any) -> None:
        if route == "publish":
            self.bus.publish(new_event("secret_test", source, payload))
            return
        logger = self.via_bus if route == "audit handler" else self.direct
        message = payload.get("message", "m") if isinstance(payload, dict) else "m"
        fields = {k: v for k, v in payload.items() if isinstance(k, str) and k != "message"}
        logger.info(message, extra={"audit_source": source, **fields, "source_text": source})

    def texts(self) -> Iterator[str]:
        self.bus.flush()
        self.database.flush()
        for evt in self.bus.history({"role": "admin"}):
            yield repr(evt)
            yield evt.to_json_bytes().decode()
        for name in ("audit.log", "direct.log"):
            path = self.tmp / name
            if path.exists():
                yield path.read_text()
        for row in self.db.rows(self.table):
            yield repr(tuple(row))
        for path in (self.tmp / "spill").rglob("*"):
            if path.is_file():
                yield path.read_bytes().decode("utf-8", "replace")
        yield from self.errors
        yield repr(self.bus) + repr(self.database) + repr(self.file)

    def close(self) -> None:
        for logger in (self.via_bus, self.direct):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
        self.bus.close()
        self.file.close()
        self.database.close()
        self.direct_sink.close()


@pytest.fixture
def artifacts(tmp_path: Path, db: Database) -> Iterator[Artifacts]:
    store = Artifacts(tmp_path, db)
    yield store
    store.close()


def _leaks(texts: Iterator[str], secret: str) -> list[str]:
    return [text[max(0, text.find(secret) - 80) :][:200] for text in texts if secret in text]


@seed(17)
@settings(PROPERTY, max_examples=40)
@given(secret=secrets_, shape=st.sampled_from(sorted(SHAPES)), route=st.sampled_from(ROUTES))
def test_no_generated_secret_reaches_any_artifact(
    artifacts: Artifacts, secret: str, shape: str, route: str
) -> None:
    source, payload = SHAPES[shape](secret)
    artifacts.send(route, source, payload)
    assert not _leaks(artifacts.texts(), secret), (shape, route)


@seed(17)
@settings(PROPERTY, max_examples=15)
@given(card=cards, route=st.sampled_from(ROUTES))
def test_no_card_number_reaches_any_artifact(artifacts: Artifacts, card: str, route: str) -> None:
    """A Luhn-valid number in text keeps at most its first six and last four digits."""
    grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    artifacts.send(route, "pay", {"message": f"charged {grouped} ok"})
    texts = list(artifacts.texts())
    assert not _leaks(iter(texts), grouped)
    assert any(f"{card[:4]} {card[4:6]}** **** {card[-4:]}" in text for text in texts)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_kafka_values_and_cli_output_hold_no_secret(
    tmp_path: Path,
    db: Database,
    mock_broker: Any,  # noqa: F811 - the fixture
) -> None:
    """Every shape once, through the Kafka sink and `audit-logging query` of the database."""
    from audit_logging.sinks.kafka import KafkaHandler

    topic = unique_topic("secrets")
    kafka = KafkaHandler(mock_broker.bootstrap, topic, api_version=(2, 0))
    table = db.new_table()
    database = DatabaseHandler(db.url, table=table)
    secrets = {name: f"Zq{index:02d}kafkaCLIsecretX9" for index, name in enumerate(SHAPES)}
    with Bus(asynchronous=False, lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, kafka, name="kafka")
        bus.subscribe(EVENT_ANY, database, name="db")
        for name, secret in secrets.items():
            bus.publish(new_event("secret_test", *SHAPES[name](secret)))
        bus.flush()
    kafka.close()
    database.close()
    values = [message.value().decode() for message in consume_all(mock_broker.bootstrap, topic)]
    assert len(values) == len(SHAPES)
    query = subprocess.run(
        [sys.executable, "-m", "audit_logging", "query", "--db", db.url, "--table", table,
         "--json", "--limit", "100"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr
    assert query.stdout.count("secret_test") == len(SHAPES)
    for name, secret in secrets.items():
        assert not _leaks(iter([*values, query.stdout, query.stderr]), secret), name
