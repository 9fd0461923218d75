"""
Tests for audit_logging._model.options: every option checked, and the error names it.
"""

from __future__ import annotations

import pathlib

import pytest

from audit_logging import Bus, ConfigurationError
from audit_logging._model import options
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.sinks.kafka import KafkaHandler

# kafka-python warns (DeprecationWarning, an error in the tests) on its first import only:
# import it at collection, as the Kafka sink's own tests do.
pytest.importorskip("kafka")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("False", False), (" yes ", True), ("no", False), ("on", True),
     ("OFF", False), ("1", True), ("0", False), (True, True), (False, False)],
)  # fmt: skip
def test_flag_accepts_only_the_documented_words(text, expected):
    """A bool, or true/false, yes/no, on/off, 1/0 in any case."""
    assert options.flag("x", text) is expected


@pytest.mark.parametrize("value", ["maybe", "", "t", "nope", 1, 0, 2.0, None, [], b"true"])
def test_flag_refuses_anything_else_naming_the_option(value):
    """Truthiness is never used: 1, None, 'maybe' and b'true' are refused."""
    with pytest.raises(ConfigurationError, match=r"^asynchronous: expected a bool") as info:
        options.flag("asynchronous", value)
    assert info.value.option == "asynchronous"
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TypeError)


def test_numbers_from_text_follow_the_env_grammar():
    """'12' and '0.5' are numbers; '0x10', '1_000', '١٢' and 'nan' are not."""
    assert options.integer("n", "12") == 12
    assert options.number("n", "0.5") == 0.5
    for bad in ("0x10", "1_000", "\u0661\u0662", "nan", "1.5"):
        with pytest.raises(ConfigurationError, match=r"^n: "):
            options.integer("n", bad)
    with pytest.raises(ConfigurationError, match="finite"):
        options.number("n", float("inf"))
    with pytest.raises(ConfigurationError, match="expected an int, got True"):
        options.integer("n", True)


def test_a_value_whose_repr_raises_is_named_by_its_type():
    """A hostile object cannot turn the configuration error into another exception."""

    class Hostile:
        def __repr__(self):
            raise RuntimeError("boom")

    with pytest.raises(ConfigurationError, match=r"a Hostile \(unprintable\)"):
        options.flag("compress", Hostile())


def test_bus_reads_false_as_false_from_text():
    """Bus(asynchronous='false') is a synchronous bus (a YAML or env-sourced config)."""
    with Bus(asynchronous="false", history_cap="5", lifecycle_events="off") as bus:
        assert bus._async is False
        assert bus._config.history_cap == 5
        assert bus._config.lifecycle_events is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spillover_dir": 5}, r"^spillover_dir: expected a path .* got 5 \(int\)"),
        ({"asynchronous": "nah"}, r"^asynchronous: expected a bool"),
        ({"sample_rate": "half"}, r"^sample_rate: expected a number, got 'half'"),
        ({"sample_rate": 2}, r"^sample_rate: must be within \[0, 1\]"),
        ({"error_func": 3}, r"^error_func: expected a callable"),
        ({"worker_count": True}, r"^worker_count: expected an int, got True"),
        ({"spill_fsync": "sometimes"}, r"^spill_fsync: must be one of"),
        ({"rate_limit": 0}, r"^rate_limit: must be > 0"),
    ],
)
def test_bus_errors_name_the_option_and_the_value(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Bus(**kwargs)


def test_sink_options_are_checked_by_name(tmp_path: pathlib.Path):
    """The three sinks refuse wrong types naming the option, before any I/O."""
    with pytest.raises(ConfigurationError, match=r"^compress: expected a bool"):
        RotatingJSONFileHandler(tmp_path / "a.log", compress="sometimes")
    with pytest.raises(ConfigurationError, match=r"^filename: expected a path"):
        RotatingJSONFileHandler(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^max_bytes: expected an int"):
        RotatingJSONFileHandler(tmp_path / "a.log", max_bytes="10MB")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^batch_size: expected an int"):
        DatabaseHandler("sqlite://", batch_size="many")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^create_table: expected a bool"):
        DatabaseHandler("sqlite://", create_table="perhaps")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^async_send: expected a bool"):
        KafkaHandler("127.0.0.1:1", "t", async_send="sometimes", connect=False)
    with pytest.raises(ConfigurationError, match=r"^bootstrap_servers: expected a str"):
        KafkaHandler(9092, "t", connect=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^key_by: must be one of"):
        KafkaHandler("127.0.0.1:1", "t", key_by="user", connect=False)


def test_sinks_read_documented_text_forms(tmp_path: pathlib.Path):
    """'false' is False for a sink too, as it is for the bus."""
    handler = DatabaseHandler(f"sqlite:///{tmp_path / 'a.db'}", create_table="false")
    try:
        assert handler._writer is not None
    finally:
        handler.close()
    kafka = KafkaHandler("127.0.0.1:1", "t", async_send="true", connect="no")
    try:
        assert kafka.async_send is True
    finally:
        kafka.abandon()


def test_logging_bridges_check_their_options():
    """AuditHandler and AuditProcessor name a bad option too."""
    from audit_logging import AuditHandler

    with Bus(asynchronous=False) as bus:
        with pytest.raises(ConfigurationError, match=r"^include_traceback: expected a bool"):
            AuditHandler(bus, include_traceback="sometimes")
        with pytest.raises(ConfigurationError, match=r"^source: expected"):
            AuditHandler(bus, source=5)  # type: ignore[arg-type]
        handler = AuditHandler(bus, ignore_loggers="noisy", include_traceback="yes")
        assert handler.include_traceback is True
        assert "noisy." in handler._ignored
        assert "n." not in handler._ignored  # the string was not split into letters
