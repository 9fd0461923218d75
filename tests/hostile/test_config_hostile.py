"""
Hostile configuration: garbage ``AUDIT_*`` environment values and a spill directory
that is a symlink to elsewhere, a regular file or writable by others.

Pass criteria (issue #8, the path-traversal/symlink and key-handling threats):
``BusConfig.from_env`` raises ``ValueError`` naming the variable for every malformed
value (never another exception, never a silent default), quotes at most a short
part of the value and never the spill key; a spill directory that is a symlink,
a dangling symlink, a regular file, a path through a file or a group/world-writable
directory is refused at ``Bus`` construction with a clear error naming the path,
and nothing is written to the symlink's target.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_logging.bus import Bus
from audit_logging.bus_config import MAX_WORKER_COUNT, BusConfig
from audit_logging.spillover import SpillDirectoryError
from tests.hostile._hostile import HOSTILE_SETTINGS, any_char

pytestmark = pytest.mark.timeout(60)

ENV_VARS = (
    "AUDIT_HISTORY_CAP", "AUDIT_BUFFER_SIZE", "AUDIT_WORKER_COUNT", "AUDIT_ASYNC",
    "AUDIT_SAMPLE_RATE", "AUDIT_SPILLOVER_DIR", "AUDIT_MAX_MEMORY_MB", "AUDIT_RATE_LIMIT",
    "AUDIT_RATE_BURST", "AUDIT_CIRCUIT_TIMEOUT", "AUDIT_CIRCUIT_MAX_FAILS",
    "AUDIT_RECOVER_INTERVAL", "AUDIT_SPILL_MAX_BYTES", "AUDIT_SPILL_KEY", "AUDIT_SPILL_FSYNC",
    "AUDIT_MAX_EVENT_BYTES",
)  # fmt: skip

INT_GARBAGE = ["lots", "1.5", "1e3", "0x10", "1_000", "\u0663", "\uff11", "9" * 5000, "--1", "1 2"]
FLOAT_GARBAGE = ["soon", "nan", "inf", "-Infinity", "1e400", "0x1p3", "\u0661.5", "1,5", "1_0"]
GARBAGE: dict[str, list[str]] = {
    "AUDIT_HISTORY_CAP": [*INT_GARBAGE, "-1"],
    "AUDIT_BUFFER_SIZE": [*INT_GARBAGE, "0", "-5"],
    "AUDIT_WORKER_COUNT": [*INT_GARBAGE, "0", str(MAX_WORKER_COUNT + 1), "9" * 30],
    "AUDIT_ASYNC": ["maybe", "2", "tru", "\u0131"],
    "AUDIT_SAMPLE_RATE": [*FLOAT_GARBAGE, "1.5", "-0.1"],
    "AUDIT_SPILLOVER_DIR": ["/tmp/a\x00b"],
    "AUDIT_MAX_MEMORY_MB": [*INT_GARBAGE, "-1"],
    "AUDIT_RATE_LIMIT": [*FLOAT_GARBAGE, "-3"],
    "AUDIT_RATE_BURST": [*INT_GARBAGE, "0"],
    "AUDIT_CIRCUIT_TIMEOUT": [*FLOAT_GARBAGE, "-1"],
    "AUDIT_CIRCUIT_MAX_FAILS": [*INT_GARBAGE, "-1"],
    "AUDIT_RECOVER_INTERVAL": [*FLOAT_GARBAGE, "0", "-1"],
    "AUDIT_SPILL_MAX_BYTES": [*INT_GARBAGE, "0"],
    "AUDIT_SPILL_KEY": ["\udc80secret-key-material"],
    "AUDIT_SPILL_FSYNC": ["sometimes", "fsync; rm -rf /"],
    "AUDIT_MAX_EVENT_BYTES": [*INT_GARBAGE, "0", "-1"],
}
CASES = [
    pytest.param(var, value, id=f"{var}={ascii(value)[:20]}")
    for var, values in GARBAGE.items()
    for value in values
]


@pytest.mark.parametrize(("var", "value"), CASES)
def test_garbage_value_raises_value_error_naming_the_variable(var: str, value: str) -> None:
    """Each malformed value: ValueError that starts with the variable's name, short and one line."""
    with pytest.raises(ValueError, match=f"^{var}\\b") as info:
        BusConfig.from_env({var: value})
    message = str(info.value)
    assert len(message) < 250
    assert "\n" not in message


def test_spill_key_is_never_quoted_in_errors() -> None:
    """A bad AUDIT_SPILL_KEY is reported without any part of the key."""
    with pytest.raises(ValueError, match="AUDIT_SPILL_KEY") as info:
        BusConfig.from_env({"AUDIT_SPILL_KEY": "\udc80secret-key-material"})
    assert "secret" not in str(info.value)
    assert "\\udc80" not in str(info.value)


def test_long_values_are_cut_in_the_message() -> None:
    """A 10,000-character value is quoted in part only."""
    with pytest.raises(ValueError, match="AUDIT_BUFFER_SIZE") as info:
        BusConfig.from_env({"AUDIT_BUFFER_SIZE": "x" * 10_000})
    assert len(str(info.value)) < 200


@HOSTILE_SETTINGS
@given(env=st.dictionaries(st.sampled_from(ENV_VARS), st.text(any_char, max_size=30), max_size=5))
def test_any_environment_gives_a_config_or_a_value_error_naming_a_variable(
    env: dict[str, str],
) -> None:
    """Property: arbitrary values give a valid BusConfig or a ValueError naming one of them."""
    error: ValueError | None = None
    try:
        config = BusConfig.from_env(env)
    except ValueError as exc:
        error = exc
    if error is not None:
        assert any(str(error).startswith(var) for var in env), str(error)
    else:
        config.validate()
        assert 1 <= config.worker_count <= MAX_WORKER_COUNT


# -- the spill directory ---------------------------------------------------------------------


def refused(path: Path, match: str) -> SpillDirectoryError:
    """Bus(spillover_dir=path) raises SpillDirectoryError naming the path; no thread is left."""
    before = set(threading.enumerate())
    with pytest.raises(SpillDirectoryError, match=match) as info:
        Bus(spillover_dir=path)
    assert str(path) in str(info.value)
    assert set(threading.enumerate()) <= before
    return info.value


def test_spill_dir_that_is_a_symlink_to_elsewhere_is_refused(tmp_path: Path) -> None:
    """A symlinked spill directory is refused and its target stays empty."""
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "spill"
    link.symlink_to(target)
    error = refused(link, "symlink")
    assert isinstance(error, ValueError)
    assert list(target.iterdir()) == []


def test_spill_dir_that_is_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    """A symlink to a path that does not exist yet is refused; nothing is created there."""
    link = tmp_path / "spill"
    link.symlink_to(tmp_path / "not-yet")
    refused(link, "symlink")
    assert not (tmp_path / "not-yet").exists()


def test_spill_dir_that_is_a_regular_file_is_refused(tmp_path: Path) -> None:
    """A regular file as spill dir (or as a parent of it) is refused; the file is untouched."""
    regular = tmp_path / "spill"
    regular.write_bytes(b"precious\n")
    refused(regular, "not a directory")
    refused(regular / "sub", "not a plain directory|not a directory")
    assert regular.read_bytes() == b"precious\n"


def test_spill_dir_writable_by_others_is_refused(tmp_path: Path) -> None:
    """A group- or world-writable directory (pre-created by someone else) is refused."""
    shared = tmp_path / "spill"
    shared.mkdir()
    os.chmod(shared, 0o777)  # the hostile set-up under test
    refused(shared, "writable")


def test_spill_dir_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    """AUDIT_SPILLOVER_DIR pointing at a symlink fails at Bus construction, naming the path."""
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "spill"
    link.symlink_to(target)
    config: Any = BusConfig.from_env({"AUDIT_SPILLOVER_DIR": str(link)})
    with pytest.raises(SpillDirectoryError, match="symlink"):
        Bus(config)
    assert list(target.iterdir()) == []


def test_nul_in_spill_dir_is_a_config_error() -> None:
    """A NUL in spillover_dir is refused by BusConfig, naming the field, not by a deep os error."""
    with pytest.raises(ValueError, match="spillover_dir"):
        BusConfig(spillover_dir="/tmp/spill\x00../../etc")
