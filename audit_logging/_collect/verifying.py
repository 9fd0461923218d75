"""
Verifying the trail as it is collected: :class:`LiveVerifier`.

A producer's stream spreads over the topic's partitions (the key is the event id),
so the records of one stream arrive out of ``seq`` order, and only a reader of
every partition sees all of them. Per stream, one
:class:`~audit_logging._integrity.StreamVerifier` built ``ordered=False`` puts them
back in order (up to ``reorder_window`` records held back) and checks the chain and
each signed checkpoint (read from ``<topic>.checkpoints``) as they come. A number
still missing after ``reorder_timeout`` seconds, or once the window is full, is
reported as deleted (a gap).

Where verification starts. A collector that joins mid-stream (a restart, or a
rebalance handing it partitions) has not seen the records before its first one, so
it cannot tell a deletion from "read by someone else": a stream is verified from
its seq 0 as soon as that record is read; otherwise, once it has waited
``reorder_timeout`` seconds (or held ``reorder_window`` records) for lower numbers,
from the first signed checkpoint whose size is the ``seq`` of a record read and whose
last leaf is that record's ``prev`` (the checkpoint vouches for everything before).
The records before that point are stored but counted as ``unverified``, never
reported as deleted. Every
change of the assignment starts every stream over this way, and while the collector
does not hold every partition of the topic and of the checkpoint topic, it verifies
nothing (``suspended``): its share of a stream would look full of gaps.

Findings go to the ``audit_logging.collector`` logger (defects as errors, notes as
warnings), to :attr:`LiveVerifier.findings` (the last 1000) and to ``on_finding``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audit_logging._integrity import Checkpoint, Finding, Keyring, Kind, Sealed, StreamVerifier
from audit_logging._sinks.kafka import sealed_record

__all__ = ["LiveVerifier"]

_log = logging.getLogger("audit_logging.collector")
_KEPT_FINDINGS = 1000
_KEPT_CHECKPOINTS = 256


class _Verifier(StreamVerifier):
    """A StreamVerifier that hands each finding on as it is made."""

    def __init__(self, keyring: Keyring, window: int, emit: Callable[[Finding], None]) -> None:
        super().__init__(keyring, reorder_window=window, ordered=False)
        self._emit = emit

    def note(
        self, kind: Kind, stream: str, where: str, detail: str, seq: int | None = None
    ) -> None:
        if kind is Kind.RETENTION_START:
            return  # the live reader starts at a checkpoint on purpose (logged when it does)
        super().note(kind, stream, where, detail, seq)
        self._emit(Finding(kind, stream, where, detail, seq))


@dataclass
class _Live:
    """One stream: waiting for a point to start from, then verified."""

    verifier: _Verifier | None = None
    start: int = 0
    held: dict[int, tuple[Sealed, str]] = field(default_factory=dict)
    notes: dict[int, tuple[str, str, Checkpoint]] = field(default_factory=dict)
    waiting_since: float | None = None


class LiveVerifier:
    """
    Verify the streams of a topic as its records and checkpoints are collected.

    Args:
        keyring: the trusted checkpoint keys.
        reorder_window: records per stream held back waiting for a lower ``seq``.
        reorder_timeout: seconds a missing ``seq`` is waited for before it is a gap.
        on_finding: called with every finding as it is made.
        clock: monotonic clock (injected in tests).
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        reorder_window: int = 10_000,
        reorder_timeout: float = 60.0,
        on_finding: Callable[[Finding], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keyring = keyring
        self._window = max(1, reorder_window)
        self._timeout = reorder_timeout
        self._on_finding = on_finding
        self._clock = clock
        self._streams: dict[str, _Live] = {}
        self.suspended = False
        self.findings: list[Finding] = []
        self.verified = 0
        self.unverified = 0
        self.defects = 0
        self.checkpoints = 0

    def _emit(self, finding: Finding) -> None:
        if finding.is_defect:
            self.defects += 1
            _log.error("collector: integrity %s", finding)
        else:
            _log.warning("collector: integrity %s", finding)
        self.findings.append(finding)
        del self.findings[:-_KEPT_FINDINGS]
        if self._on_finding is not None:
            self._on_finding(finding)

    def defects_found(self) -> list[Finding]:
        """
        The kept findings that mean the trail was changed.
        """
        return [f for f in self.findings if f.is_defect]

    def reset(self, *, suspended: bool) -> None:
        """
        Start every stream over (the assignment changed); ``suspended``: verify nothing.
        """
        for live in self._streams.values():
            self.unverified += len(live.held)
        self._streams = {}
        self.suspended = suspended

    def add_checkpoint(self, note: str, where: str) -> None:
        """
        One record of the checkpoint topic.
        """
        if self.suspended:
            return
        cp = _Verifier(self._keyring, 1, self._emit).add_checkpoint(note, where)
        if cp is None:
            return  # reported (forged, unknown key, unreadable)
        self.checkpoints += 1
        live = self._streams.setdefault(cp.stream, _Live())
        if live.verifier is not None:
            live.verifier.add_checkpoint(note, where)
            return
        live.notes[cp.size] = (note, where, cp)
        if len(live.notes) > _KEPT_CHECKPOINTS:
            del live.notes[min(live.notes)]
        self._try_start(cp.stream, live, self._settled(live))

    def add_record(self, headers: Any, value: bytes | None, where: str) -> None:
        """
        One stored record of the audit topic.
        """
        if self.suspended:
            self.unverified += 1
            return
        sealed = sealed_record(headers, value or b"")
        if sealed is None:
            self._emit(
                Finding(Kind.INSERTED, "", where, "a record without valid integrity headers")
            )
            return
        live = self._streams.setdefault(sealed.stream, _Live())
        v = live.verifier
        if v is None:
            live.held[sealed.seq] = (sealed, where)
            if live.waiting_since is None:
                live.waiting_since = self._clock()
            self._try_start(sealed.stream, live, self._settled(live))
            if live.verifier is None and len(live.held) > self._window:
                del live.held[min(live.held)]
                self.unverified += 1
            return
        if sealed.seq < live.start:
            self.unverified += 1  # before the point this stream is verified from
            return
        v.add_record(sealed, where)
        self.verified += 1
        self._watch(sealed.stream, live, v)

    def _watch(self, stream: str, live: _Live, v: _Verifier) -> None:
        if not v.held(stream):
            live.waiting_since = None
        elif live.waiting_since is None:
            live.waiting_since = self._clock()

    def _settled(self, live: _Live) -> bool:
        # Waited long enough for lower numbers: start from what is justified now.
        since = live.waiting_since
        timed_out = since is not None and self._clock() - since >= self._timeout
        return timed_out or len(live.held) >= self._window

    def _try_start(self, stream: str, live: _Live, settled: bool) -> None:
        start = None
        if 0 in live.held:
            start = 0
        elif settled:
            for size in sorted(live.notes):
                hit = live.held.get(size)
                if hit is not None and hit[0].prev == live.notes[size][2].last_leaf:
                    start = size
                    break
        if start is None:
            return
        v = live.verifier = _Verifier(self._keyring, self._window, self._emit)
        live.start = start
        for size, (note, where, _) in sorted(live.notes.items()):
            if size >= start:
                v.add_checkpoint(note, where)
        skipped = 0
        for seq in sorted(live.held):
            sealed, where = live.held[seq]
            if seq < start:
                skipped += 1
                continue
            v.add_record(sealed, where)
            self.verified += 1
        self.unverified += skipped
        if start:
            _log.info(
                "collector: stream %s verified from seq %d on, which the checkpoint at %s "
                "vouches for (%d earlier record(s) read here are stored unverified)",
                stream,
                start,
                live.notes[start][1],
                skipped,
            )
        live.held, live.notes = {}, {}
        live.waiting_since = None
        self._watch(stream, live, v)

    def tick(self) -> None:
        """
        Report as gaps the numbers waited for longer than ``reorder_timeout``.
        """
        now = self._clock()
        for stream, live in self._streams.items():
            since, v = live.waiting_since, live.verifier
            if v is None:
                if live.held and self._settled(live):
                    self._try_start(stream, live, True)
            elif since is not None and now - since >= self._timeout:
                v.release(stream)
                live.waiting_since = None

    def waiting(self) -> int:
        """
        Records held back: waiting for a lower ``seq``, or for a point to start from.
        """
        total = 0
        for stream, live in self._streams.items():
            total += len(live.held)
            if live.verifier is not None:
                total += live.verifier.held(stream)
        return total
