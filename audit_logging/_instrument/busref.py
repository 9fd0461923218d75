"""
A bus given as an object or as a registry name, resolved when first used.

Every integration takes ``bus=`` either way. A name is looked up at the first
event, not at construction: frameworks build middleware, extensions and session
listeners before the application has configured its buses (Django builds
middleware before ``LOGGING`` is applied; a dictConfig may run later). A bus
found by name that has since been closed is looked up again, since the
application may have built a new one under the same name; a bus given as an
object is used as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["BusRef"]


class BusRef:
    """
    ``BusRef(bus_or_name).get()``: the bus, resolved from the registry on first use.
    """

    __slots__ = ("_bus", "_name")

    def __init__(self, bus: Bus | str) -> None:
        self._name = bus if isinstance(bus, str) else None
        self._bus: Bus | None = None if isinstance(bus, str) else bus

    def get(self) -> Bus:
        """
        The bus (a closed one found by name is replaced by the registry's current one).
        """
        bus = self._bus
        if bus is None or (bus.closed and self._name is not None):
            from audit_logging._engine.registry import get_bus

            assert self._name is not None
            bus = self._bus = get_bus(self._name)
        return bus
