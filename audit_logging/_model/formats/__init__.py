"""
Renderings of the canonical event for SIEMs: ECS (Elastic) and OCSF (AWS Security
Lake, Splunk), selected per sink with ``format=``.

What other layers may use: :func:`encoder` (a format name to the function that
turns an event into one line of JSON bytes) and :data:`FORMATS`. The canonical
form stays the default and the only form the bus, the spill files and the
command line read; ``ecs`` and ``ocsf`` are for the systems downstream. Inside:
``kinds`` (what an event type is), ``ecs`` and ``ocsf`` (one module each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audit_logging._model import encoding as _encoding
from audit_logging._model.event import Event
from audit_logging._model.formats.ecs import to_ecs
from audit_logging._model.formats.ocsf import to_ocsf

__all__ = ["FORMATS", "encoder", "to_ecs", "to_ocsf"]

FORMATS = ("canonical", "ecs", "ocsf")
"""The formats a sink can write: the canonical form (default), ECS 8.x, OCSF 1.3."""


def _ecs_bytes(evt: Event[Any]) -> bytes:
    return _encoding.dumps(to_ecs(evt))


def _ocsf_bytes(evt: Event[Any]) -> bytes:
    return _encoding.dumps(to_ocsf(evt))


def encoder(name: str) -> Callable[[Event[Any]], bytes]:
    """
    The function writing one event as one line of JSON (no newline) in format ``name``.

    Raises:
        ValueError: not one of :data:`FORMATS`.
    """
    if name == "canonical":
        return Event.to_json_bytes
    if name == "ecs":
        return _ecs_bytes
    if name == "ocsf":
        return _ocsf_bytes
    raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}, not {name!r}")
