"""
Handing one batch of events to a sink and knowing whether it stored them.

The collector commits a batch's offsets only after this says "stored", so it must
not take a sink's word lightly. A sink (any :class:`~audit_logging._sinks.base.SinkHandler`)
has three ways of not storing an event, and each is caught here:

- ``write_event`` raises (the database sink refuses events while it knows the
  database is down, or its backlog is full): the rest of the batch is not offered;
- the sink hands events back through the failure callback (the database sink
  after its retries, the Kafka sink after a failed delivery): the callback is the
  collector's, set at construction, and ``flush`` returns only once every event
  written is stored, dead-lettered or handed back;
- the sink counts the event in ``lost_events`` (a row the table can never hold and
  no ``dead_letter_dir``): that event is never retried (it would block the
  partition for ever); it is reported and counted as ``rejected``.

A row the sink dead-lettered counts as stored: it is in the sink's dead-letter file.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audit_logging._model.event import Event
from audit_logging._sinks.base import SinkHandler

__all__ = ["BatchStore", "Outcome"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """
    What became of one batch: ``stored`` is True when none was refused or handed back.
    """

    stored: bool
    error: str = ""
    refused: int = 0
    handed_back: int = 0
    rejected: int = 0


class BatchStore:
    """
    Write batches into ``sink`` and tell stored from failed.
    """

    def __init__(self, sink: SinkHandler) -> None:
        self.sink = sink
        self._lock = threading.Lock()
        self._handed_back: list[tuple[int, BaseException]] = []
        sink.set_failure_callback(self._failed)

    def _failed(self, events: Sequence[Event[Any]], exc: BaseException) -> None:
        # The sink's thread: only note it; the loop reads it after flush.
        with self._lock:
            self._handed_back.append((len(events), exc))

    def store(self, events: Sequence[Event[Any]]) -> Outcome:
        """
        Write ``events`` and flush; the outcome says whether every one was stored.
        """
        sink = self.sink
        with self._lock:
            self._handed_back = []
        lost_before = sink.lost_events
        refused = 0
        error = ""
        for i, evt in enumerate(events):
            try:
                sink.write_event(evt)
            except Exception as exc:
                refused = len(events) - i
                error = f"{type(exc).__name__}: {exc}"
                break
        try:
            sink.flush()
        except Exception as exc:
            error = error or f"flush: {type(exc).__name__}: {exc}"
            refused = refused or len(events)
        with self._lock:
            back = self._handed_back
            self._handed_back = []
        handed_back = sum(n for n, _ in back)
        if back and not error:
            last = back[-1][1]
            error = f"{type(last).__name__}: {last}"
        rejected = max(0, sink.lost_events - lost_before)
        return Outcome(not refused and not handed_back, error, refused, handed_back, rejected)
