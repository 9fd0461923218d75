"""
The named registry of buses behind :func:`get_bus` and :func:`default_bus`.

``dictConfig`` wiring refers to buses by name (``AuditHandler(bus="default")``),
so one process gets one bus per name however many handlers name it. The
registry sits above the bus: it builds buses, and the bus never looks it up.
Closing at exit, fork and SIGTERM are :mod:`audit_logging._engine.process`'s job.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from audit_logging._engine.bus import Bus
from audit_logging._engine.settings import BusConfig

__all__ = ["default_bus", "get_bus", "open_buses"]

_named: dict[str, Bus] = {}
_lock = threading.Lock()


def get_bus(name: str = "default", **config: Any) -> Bus:
    """
    The bus registered under ``name``, created on first use.

    ``config`` (BusConfig fields) applies when the bus is created; the default
    bus starts from :meth:`BusConfig.from_env`. A closed bus is replaced by a new
    one on the next call, so logging reconfiguration never leaves a dead bus.
    """
    with _lock:
        bus = _named.get(name)
        if bus is not None and not bus.closed:
            return bus
    base = BusConfig.from_env() if name == "default" else None
    created = Bus(base, **config)
    with _lock:
        bus = _named.get(name)
        if bus is not None and not bus.closed:
            racing = created
        else:
            _named[name] = created
            bus, racing = created, None
    if racing is not None:
        racing.close()
    return bus


def default_bus() -> Bus:
    """
    The process-wide bus built from ``BusConfig.from_env()``; the same as ``get_bus("default")``.
    """
    return get_bus("default")


def open_buses() -> list[Bus]:
    """
    The buses of the registry that are not closed, without creating any.
    """
    with _lock:
        return [bus for bus in _named.values() if not bus.closed]


def _after_fork_in_child() -> None:
    # The parent may have held the lock while forking: the child's copy would stay taken.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
