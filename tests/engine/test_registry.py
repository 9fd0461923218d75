"""
The named registry: get_bus and default_bus.
"""

from __future__ import annotations

import pytest

from audit_logging._engine.registry import default_bus, get_bus, open_buses

pytestmark = pytest.mark.timeout(60)


def test_get_bus_returns_the_same_bus_per_name():
    """get_bus(name) creates a bus once and returns it again; a closed one is replaced."""
    bus = get_bus("test-registry", lifecycle_events=False)
    try:
        assert get_bus("test-registry") is bus
        assert get_bus("test-registry-other", lifecycle_events=False) is not bus
    finally:
        get_bus("test-registry-other").close()
        bus.close()
    fresh = get_bus("test-registry", lifecycle_events=False)
    assert fresh is not bus
    fresh.close()


def test_open_buses_lists_without_creating():
    """open_buses() lists the open buses of the registry and creates none."""
    bus = get_bus("test-registry-open", lifecycle_events=False)
    try:
        assert bus in open_buses()
    finally:
        bus.close()
    assert bus not in open_buses()
    assert all(not b.closed for b in open_buses())


def test_default_bus_is_the_default_entry(monkeypatch):
    """default_bus() is get_bus('default') and reads AUDIT_* variables."""
    monkeypatch.setenv("AUDIT_BUFFER_SIZE", "77")
    existing = get_bus("default")
    existing.close()
    bus = default_bus()
    try:
        assert bus is get_bus("default")
        assert bus.config.buffer_size == 77
    finally:
        bus.close()
