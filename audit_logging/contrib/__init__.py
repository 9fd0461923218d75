"""
Thin framework adapters (Django, Flask) over :mod:`audit_logging._instrument.http`.

Each adapter imports its framework only when its module is imported, so the
core package never depends on Django or Flask.
"""

from __future__ import annotations

__all__: list[str] = []
