"""
logging.config.dictConfig wiring: records -> bus -> real sinks, reconfiguration, ext://, S20.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from audit_logging._engine.registry import get_bus
from audit_logging.bus import Bus
from audit_logging.stdlib import AuditHandler, Logger
from audit_logging.structlog import AuditProcessor

EXT_BUS = Bus(asynchronous=False, lifecycle_events=False)
"""The bus the ``ext://`` test refers to (a bus built in code)."""


pytestmark = pytest.mark.usefixtures("isolated_handlers")


@pytest.fixture
def bus_name() -> Iterator[str]:
    """A fresh registry name; the bus is closed after the test."""
    name = f"dictconfig-{uuid.uuid4().hex}"
    yield name
    get_bus(name).close()


def _config(tmp_path: Path, bus_name: str, **bus: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "audit": {
                "class": "audit_logging.stdlib.AuditHandler",
                "bus": {"name": bus_name, "spillover_dir": str(tmp_path / "spill"), **bus},
                "sinks": {
                    "file": {
                        "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                        "filename": str(tmp_path / "audit.jsonl"),
                    },
                    "db": {
                        "()": "audit_logging.sinks.database.DatabaseHandler",
                        "url_or_engine": f"sqlite:///{tmp_path / 'audit.db'}",
                        "event_types": ["log_info", "log_error"],
                    },
                },
            }
        },
        "root": {"handlers": ["audit"], "level": "INFO"},
    }


def _file_events(tmp_path: Path) -> list[dict[str, Any]]:
    with open(tmp_path / "audit.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _db_types(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        return [r[0] for r in db.execute("SELECT type FROM audit ORDER BY time")]


@pytest.mark.timeout(60)
def test_one_dictconfig_wires_records_to_file_and_database(tmp_path: Path, bus_name: str) -> None:
    """A single dictConfig call stores records in the file and the database."""
    logging.config.dictConfig(_config(tmp_path, bus_name, lifecycle_events=False))
    log = logging.getLogger("test_dictconfig.orders")
    log.info("order %s", "o-1", extra={"user_id": "u1"})
    log.warning("only in the file")
    assert get_bus(bus_name).flush(20)
    file_types = [e["type"] for e in _file_events(tmp_path)]
    assert file_types == ["log_info", "log_warning"]
    assert _db_types(tmp_path) == ["log_info"]
    assert _file_events(tmp_path)[0]["payload"]["fields"] == {"user_id": "u1"}


@pytest.mark.timeout(60)
def test_reconfiguring_keeps_the_bus_and_subscribes_once(tmp_path: Path, bus_name: str) -> None:
    """Two dictConfig calls (as Django makes) keep one bus and one subscription per sink."""
    config = _config(tmp_path, bus_name, lifecycle_events=False)
    logging.config.dictConfig(config)
    bus = get_bus(bus_name)
    first = [(s.name, s.handler) for s in bus.subscriptions]
    logging.config.dictConfig(config)
    assert get_bus(bus_name) is bus
    assert not bus.closed
    assert [(s.name, s.handler) for s in bus.subscriptions] == first
    assert [name for name, _ in first] == ["file", "db[log_info]", "db[log_error]"]
    logging.getLogger("test_dictconfig.x").info("after reconfiguration")
    assert bus.flush(20)
    assert [e["type"] for e in _file_events(tmp_path)] == ["log_info"]


@pytest.mark.timeout(60)
def test_unrelated_dictconfig_does_not_close_the_sinks(tmp_path: Path, bus_name: str) -> None:
    """A later dictConfig without the AuditHandler leaves the bus's sinks working."""
    logging.config.dictConfig(_config(tmp_path, bus_name, lifecycle_events=False))
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    bus = get_bus(bus_name)
    Logger(bus, "svc").info("still stored")
    assert bus.flush(20)
    assert [e["payload"]["message"] for e in _file_events(tmp_path)] == ["still stored"]


@pytest.mark.timeout(60)
def test_changed_sink_settings_replace_the_old_sink(tmp_path: Path, bus_name: str) -> None:
    """Reconfiguring a sink name with other settings closes the old handler."""
    config = _config(tmp_path, bus_name, lifecycle_events=False)
    logging.config.dictConfig(config)
    bus = get_bus(bus_name)
    old = next(s.handler for s in bus.subscriptions if s.name == "file")
    config["handlers"]["audit"]["sinks"]["file"]["filename"] = str(tmp_path / "other.jsonl")
    logging.config.dictConfig(config)
    new = next(s.handler for s in bus.subscriptions if s.name == "file")
    assert new is not old
    assert old.closed
    assert [s.name for s in bus.subscriptions].count("file") == 1


def test_ext_bus_built_in_code() -> None:
    """``"bus": "ext://module.BUS"`` uses a bus built in code; ext:// works in sinks too."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "audit": {
                    "class": "audit_logging.stdlib.AuditHandler",
                    "bus": "ext://tests.test_dictconfig.EXT_BUS",
                    "sinks": {"mem": {"()": "ext://tests._helpers.Recorder", "name": "mem"}},
                }
            },
            "loggers": {"test_dictconfig.ext": {"handlers": ["audit"], "level": "INFO"}},
        }
    )
    handler = logging.getLogger("test_dictconfig.ext").handlers[0]
    assert isinstance(handler, AuditHandler)
    assert handler.bus is EXT_BUS
    logging.getLogger("test_dictconfig.ext").info("via ext")
    recorder = next(s.handler for s in EXT_BUS.subscriptions if s.name == "mem")
    assert [e.payload["message"] for e in recorder.events] == ["via ext"]


def test_handler_construction_error_is_a_config_error(tmp_path: Path, bus_name: str) -> None:
    """A bad sink spec fails dictConfig (at configuration, not at logging time)."""
    config = _config(tmp_path, bus_name)
    config["handlers"]["audit"]["sinks"]["file"]["no_such_option"] = 1
    with pytest.raises(ValueError, match="audit"):
        logging.config.dictConfig(config)


SECRET = "s3cr3t"


@pytest.mark.timeout(60)
def test_s20_secrets_reach_no_artifact(tmp_path: Path, bus_name: str) -> None:
    """S20: secrets in payloads, DSNs, exceptions, tracebacks and structlog locals stay out."""
    config = _config(tmp_path, bus_name, history_cap=1000)
    config["handlers"]["audit"]["include_traceback"] = True
    config["handlers"]["audit"]["sinks"]["db"].pop("event_types")
    logging.config.dictConfig(config)
    bus = get_bus(bus_name)
    log = logging.getLogger("test_dictconfig.s20")
    nested = {"user": {"Password": SECRET, "tokens": [{"api_key": "k" * 12}]}}
    log.info("nested", extra={"event_type": "custom_thing", "payload": nested})
    log.info("dsn", extra={"dsn": f"postgresql://u:{SECRET}@h/db"})
    db_password = SECRET  # noqa: F841 - a local a traceback with locals would show
    try:
        raise ConnectionError(f"connect postgresql://u:{SECRET}@h/db password={SECRET}")
    except ConnectionError:
        log.exception("db down")
        structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[structlog.processors.dict_tracebacks, AuditProcessor(bus)],
        ).error("structlog saw it", exc_info=True, token=SECRET)
    assert bus.flush(20)
    history = [e.to_json_bytes() for e in bus.history({"role": "admin"})]
    bus.close()
    artifacts: list[bytes] = [*history]
    for root, _dirs, files in os.walk(tmp_path):
        for name in files:
            artifacts.append((Path(root) / name).read_bytes())
    assert len(history) >= 4
    assert all(SECRET.encode() not in blob for blob in artifacts)
    assert all(b"k" * 12 not in blob for blob in artifacts)
    stored = [e["type"] for e in _file_events(tmp_path)]
    assert {"custom_thing", "log_info", "log_error"} <= set(stored)
