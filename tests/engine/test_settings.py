"""
BusConfig defaults, validation and from_env.
"""

from __future__ import annotations

import pytest

from audit_logging.bus_config import BusConfig


def test_defaults_match_the_contract():
    """BusConfig() has the documented defaults (unlimited rate, no spill)."""
    cfg = BusConfig()
    assert (cfg.history_cap, cfg.buffer_size, cfg.worker_count) == (10_000, 1_000, 8)
    assert cfg.asynchronous is True
    assert cfg.sample_rate == 1.0
    assert cfg.rate_limit is None
    assert cfg.spillover_dir is None
    assert (cfg.circuit_timeout, cfg.circuit_max_fails) == (30.0, 5)


def test_from_env_reads_every_variable(tmp_path):
    """Every AUDIT_* variable is parsed into its field."""
    env = {
        "AUDIT_HISTORY_CAP": "5",
        "AUDIT_BUFFER_SIZE": "6",
        "AUDIT_WORKER_COUNT": "2",
        "AUDIT_ASYNC": "off",
        "AUDIT_SAMPLE_RATE": "0.5",
        "AUDIT_SPILLOVER_DIR": str(tmp_path),
        "AUDIT_MAX_MEMORY_MB": "7",
        "AUDIT_RATE_LIMIT": "100",
        "AUDIT_RATE_BURST": "10",
        "AUDIT_CIRCUIT_TIMEOUT": "1.5",
        "AUDIT_CIRCUIT_MAX_FAILS": "3",
        "AUDIT_RECOVER_INTERVAL": "2",
    }
    cfg = BusConfig.from_env(env)
    assert cfg.history_cap == 5
    assert cfg.buffer_size == 6
    assert cfg.worker_count == 2
    assert cfg.asynchronous is False
    assert cfg.sample_rate == 0.5
    assert cfg.spillover_dir == str(tmp_path)
    assert cfg.max_memory_mb == 7
    assert cfg.rate_limit == 100
    assert cfg.rate_burst == 10
    assert cfg.circuit_timeout == 1.5
    assert cfg.circuit_max_fails == 3
    assert cfg.recover_interval == 2


@pytest.mark.parametrize("value", ["0", "none", "NONE"])
def test_rate_limit_zero_or_none_is_unlimited(value):
    """AUDIT_RATE_LIMIT of 0 or none means unlimited."""
    assert BusConfig.from_env({"AUDIT_RATE_LIMIT": value}).rate_limit is None


def test_empty_values_count_as_unset():
    """An empty variable keeps the default."""
    assert BusConfig.from_env({"AUDIT_BUFFER_SIZE": ""}).buffer_size == 1_000


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("AUDIT_HISTORY_CAP", "lots"),
        ("AUDIT_BUFFER_SIZE", "0"),
        ("AUDIT_BUFFER_SIZE", "-1"),
        ("AUDIT_WORKER_COUNT", "2.5"),
        ("AUDIT_ASYNC", "maybe"),
        ("AUDIT_SAMPLE_RATE", "1.5"),
        ("AUDIT_SAMPLE_RATE", "nan"),
        ("AUDIT_RATE_LIMIT", "-3"),
        ("AUDIT_RATE_BURST", "x"),
        ("AUDIT_CIRCUIT_TIMEOUT", "soon"),
        ("AUDIT_CIRCUIT_MAX_FAILS", "-1"),
        ("AUDIT_RECOVER_INTERVAL", "0"),
        ("AUDIT_MAX_MEMORY_MB", "1e3"),
    ],
)
def test_bad_values_name_the_variable(var, value):
    """A malformed value raises ValueError naming the variable."""
    with pytest.raises(ValueError, match=var):
        BusConfig.from_env({var: value})


def test_spill_key_hidden_from_repr():
    """The spill key never appears in the config's repr."""
    cfg = BusConfig(spill_key=b"supersecretkey")
    assert "supersecret" not in repr(cfg)


@pytest.mark.parametrize("raw", ["zz", "secret-key", "abc", "0x" + "ab" * 16, "ab" * 15])
def test_spill_key_from_env_is_strictly_hex(raw):
    """A typo in AUDIT_SPILL_KEY is an error, never silently another key (value not shown)."""
    with pytest.raises(ValueError, match=r"AUDIT_SPILL_KEY \(value hidden\)") as info:
        BusConfig.from_env({"AUDIT_SPILL_KEY": raw})
    assert raw not in str(info.value)


def test_spill_key_from_env_hex_is_the_key():
    """64 hex digits are the 32 bytes they spell."""
    cfg = BusConfig.from_env({"AUDIT_SPILL_KEY": "0f" * 32})
    assert cfg.spill_key == b"\x0f" * 32


def test_from_env_error_names_the_variable():
    """A field error raised by validation names the variable, not only the field."""
    with pytest.raises(ValueError, match=r"^AUDIT_SAMPLE_RATE: sample_rate: must be within"):
        BusConfig.from_env({"AUDIT_SAMPLE_RATE": "2"})
