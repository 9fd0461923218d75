"""
The collector's loop: read a batch, store it in the sink, then commit its offsets.

Delivery promise, per batch:

1. poll up to ``batch_size`` records (the audit topic, and with verification the
   checkpoint topic);
2. decode each into an event (:mod:`~audit_logging._collect.decoding`); a record that
   is not one is counted, logged with its location and written to
   ``<dead_letter_dir>/<topic>.collect.dead-letter.jsonl`` (or only logged and counted
   without a ``dead_letter_dir``): it is then committed with the others and never
   stops the loop;
3. hand the events to the sink and flush it (:mod:`~audit_logging._collect.storing`);
4. if the sink did not store every event, nothing is committed: the partitions are
   paused (the collector stays in its group, polling for rebalances), and after a
   back-off (``retry_delay`` doubling to ``max_retry_delay``) the same batch is
   offered again, for as long as it takes. The database sink inserts idempotently on
   the event id, so offering a batch twice never stores a row twice;
5. once stored, the records feed the verifier (``verify_keys``) and the next offsets
   are committed, for the partitions still assigned, synchronously.

So an event is stored before its offset is committed: a collector killed at any point
leaves its uncommitted records to the member that gets the partition (or to itself,
restarted), which stores them again as no-ops. A failed commit is logged and counted;
the next commit of that partition covers it. :meth:`Collector.stop` (SIGTERM in the
CLI) lets the batch in hand finish and commit, unless it is waiting out a sink
outage: then it stops at once with that batch uncommitted (``run`` returns False).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from audit_logging._collect.clients import make_consumer
from audit_logging._collect.consumer import Partition, Record, default_config
from audit_logging._collect.decoding import Undecodable, decode, describe_record
from audit_logging._collect.stats import CollectorStats
from audit_logging._collect.storing import BatchStore
from audit_logging._collect.verifying import LiveVerifier
from audit_logging._integrity import Finding, Keyring
from audit_logging._model import options
from audit_logging._model.event import Event
from audit_logging._sinks.base import SinkHandler
from audit_logging._sinks.deadletter import DeadLetterFile

__all__ = ["Collector"]

_log = logging.getLogger("audit_logging.collector")


class Collector:
    """
    A member of a consumer group that writes an audit topic into a sink.

    Args:
        bootstrap_servers: ``"host:port[,host:port]"``.
        topic: the topic the Kafka sink writes (canonical format).
        group: the consumer group; collectors in one group share the partitions.
        sink: where events go (any sink of :mod:`audit_logging.sinks`; database first).
            The collector sets its failure callback; the caller closes it.
        backend: ``"confluent"`` (default) or ``"kafka-python"``.
        consumer_config: client options, kafka-python spelling (dotted librdkafka
            names pass through with confluent); they override the defaults.
        batch_size: records per batch (one flush and one commit each).
        poll_timeout: seconds a poll waits for the first record.
        session_timeout: seconds after which a silent member (killed) leaves the group.
        dead_letter_dir: where undecodable records are written.
        verify_keys: trusted checkpoint keys (a :class:`Keyring` or its text): verify
            the streams as they come (:mod:`~audit_logging._collect.verifying`).
        checkpoint_topic: default ``<topic>.checkpoints``.
        reorder_window, reorder_timeout: how long a missing ``seq`` is waited for.
        retry_delay, max_retry_delay: the back-off while the sink does not store.
        on_finding: called with each integrity finding.

    Raises:
        ValueError: an invalid option, or one the client refuses.
        MissingDependencyError: the client library is not installed.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group: str,
        sink: SinkHandler,
        *,
        backend: str = "confluent",
        consumer_config: Mapping[str, Any] | None = None,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
        session_timeout: float = 10.0,
        dead_letter_dir: str | os.PathLike[str] | None = None,
        verify_keys: Keyring | str | None = None,
        checkpoint_topic: str | None = None,
        reorder_window: int = 10_000,
        reorder_timeout: float = 60.0,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        on_finding: Callable[[Finding], None] | None = None,
    ) -> None:
        self.topic = options.text("topic", topic)
        self.group = options.text("group", group)
        self._batch_size = options.integer("batch_size", batch_size, minimum=1)
        self._poll_timeout = options.number("poll_timeout", poll_timeout, minimum=0)
        self._retry_delay = options.number("retry_delay", retry_delay, minimum=0, above=True)
        self._max_retry_delay = max(self._retry_delay, float(max_retry_delay))
        session = options.number("session_timeout", session_timeout, minimum=1)
        if not isinstance(sink, SinkHandler):
            raise ValueError(f"sink must be a sink handler, not {type(sink).__name__}")
        self.sink = sink
        self._store = BatchStore(sink)
        directory = options.path("dead_letter_dir", dead_letter_dir, none=True)
        self._dead_letters = (
            None
            if directory is None
            else DeadLetterFile(directory, f"{self.topic}.collect", topic=self.topic, group=group)
        )
        self.verifier: LiveVerifier | None = None
        self.checkpoint_topic = checkpoint_topic or f"{self.topic}.checkpoints"
        topics = [self.topic]
        if verify_keys is not None:
            keyring = verify_keys
            if isinstance(keyring, str):
                keyring = Keyring.from_text(keyring)
            if not len(keyring):
                raise ValueError("verify_keys holds no key")
            self.verifier = LiveVerifier(
                keyring,
                reorder_window=reorder_window,
                reorder_timeout=reorder_timeout,
                on_finding=on_finding,
            )
            topics.append(self.checkpoint_topic)
        self._topics = topics
        self.stats = CollectorStats()
        self._stop = threading.Event()
        self._changed = False
        self._subscribed = False
        config = {**default_config(session), **(consumer_config or {})}
        self._consumer = make_consumer(
            options.text("backend", backend), bootstrap_servers, group, config, self._on_change
        )

    def __repr__(self) -> str:
        return f"<Collector topic={self.topic} group={self.group}>"

    def _on_change(self) -> None:
        # The polling thread, inside poll(): note it, act after poll returns.
        self._changed = True
        self.stats.rebalances += 1

    def stop(self) -> None:
        """
        Finish the batch in hand, commit it and return from :meth:`run` (signal-safe).
        """
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """
        True once :meth:`stop` was called.
        """
        return self._stop.is_set()

    def run(self) -> bool:
        """
        Collect until :meth:`stop`; False if it stopped with a batch not stored.
        """
        while not self._stop.is_set():
            if not self.step():
                return False
        return True

    def step(self) -> bool:
        """
        One poll and the batch it returned; False if stopped before that batch was stored.
        """
        if not self._subscribed:
            self._consumer.subscribe(self._topics)
            self._subscribed = True
        records = self._consumer.poll(self._batch_size, self._poll_timeout)
        self._after_poll()
        done = self._process(records) if records else True
        if self.verifier is not None:
            self.verifier.tick()
        return done

    def _after_poll(self) -> None:
        if not self._changed:
            return
        self._changed = False
        assigned = self._consumer.assignment()
        _log.info(
            "collector %s: assigned %s",
            self.group,
            ", ".join(f"{t}[{p}]" for t, p in sorted(assigned)) or "nothing",
        )
        if self.verifier is None:
            return
        missing = []
        for topic in self._topics:
            held = sum(1 for t, _ in assigned if t == topic)
            total = self._consumer.partition_count(topic)
            if held < total:
                missing.append(f"{held} of the {total} partitions of {topic}")
        if missing and assigned:
            _log.warning(
                "collector %s: not verifying: it holds only %s; a stream spreads over every "
                "partition (run one verifying collector per group, README 'Scaling out')",
                self.group,
                " and ".join(missing),
            )
        self.verifier.reset(suspended=bool(missing))

    def _process(self, records: list[Record]) -> bool:
        audit = [r for r in records if r.topic == self.topic]
        notes = [r for r in records if r.topic != self.topic]
        self.stats.consumed += len(audit)
        self.stats.checkpoints += len(notes)
        events: list[Event[Any]] = []
        bad: list[tuple[Record, Undecodable]] = []
        for r in audit:
            try:
                events.append(decode(r))
            except Undecodable as exc:
                bad.append((r, exc))
        if not self._store_until_stored(events, bad):
            return False
        verifier = self.verifier
        if verifier is not None:
            for r in notes:
                verifier.add_checkpoint((r.value or b"").decode("utf-8", "replace"), r.where)
            for r in audit:
                verifier.add_record(r.headers, r.value, r.where)
        self._commit(records)
        return True

    def _store_until_stored(
        self, events: list[Event[Any]], bad: list[tuple[Record, Undecodable]]
    ) -> bool:
        delay = self._retry_delay
        pending_bad = bad
        while True:
            outcome = self._store.store(events) if events else None
            if outcome is None or outcome.stored:
                pending_bad = self._dead_letter(pending_bad)
                if not pending_bad:
                    break
                error = "the collector's dead-letter file cannot be written"
            else:
                error = outcome.error
            self.stats.store_failures += 1
            if self._stop.is_set():
                _log.error(
                    "collector %s: stopping with %d record(s) not stored (%s): their offsets "
                    "are not committed, the next collector of the group reads them again",
                    self.group,
                    len(events) + len(pending_bad),
                    error,
                )
                return False
            if outcome is not None and outcome.refused and not outcome.handed_back:
                # Refused at once (the sink knows it is down) but nothing failed during the
                # flush: its probe went through, so offer the batch again now.
                delay = self._retry_delay
                _log.info("collector %s: the sink accepts events again", self.group)
                continue
            _log.warning(
                "collector %s: a batch of %d event(s) was not stored (%s); offsets not "
                "committed, the same batch is offered again in %.1fs",
                self.group,
                len(events),
                error,
                delay,
            )
            self._wait(delay)
            delay = min(self._max_retry_delay, delay * 2)
        self.stats.stored += len(events)
        if outcome is not None and outcome.rejected:
            self.stats.rejected += outcome.rejected
            _log.error(
                "collector %s: the sink could not store %d event(s) and has no dead-letter "
                "directory; they are committed and lost (see the sink's log above)",
                self.group,
                outcome.rejected,
            )
        return True

    def _dead_letter(
        self, bad: list[tuple[Record, Undecodable]]
    ) -> list[tuple[Record, Undecodable]]:
        """Report undecodable records; returns those that could not be written."""
        for i, (r, exc) in enumerate(bad):
            if self._dead_letters is None:
                self.stats.undecodable += 1
                _log.error(
                    "collector %s: record %s cannot be decoded (%s: %s) and no "
                    "dead_letter_dir is set: it is skipped",
                    self.group,
                    r.where,
                    exc.reason,
                    exc.detail,
                )
                continue
            try:
                self._dead_letters.write_fields(exc.reason, exc.detail, record=describe_record(r))
            except OSError as err:
                _log.error(
                    "collector %s: record %s cannot be decoded (%s) nor dead-lettered to %s: %s",
                    self.group,
                    r.where,
                    exc.reason,
                    self._dead_letters.path,
                    err,
                )
                return bad[i:]
            self.stats.undecodable += 1
            self.stats.dead_lettered += 1
            _log.warning(
                "collector %s: record %s cannot be decoded (%s: %s); dead-lettered to %s",
                self.group,
                r.where,
                exc.reason,
                exc.detail,
                self._dead_letters.path,
            )
        return []

    def _wait(self, seconds: float) -> None:
        # Stay in the group (poll serves rebalances and heartbeats) without taking new
        # records: every partition is paused, and a record that arrives anyway (a
        # partition assigned meanwhile) is given back with a seek to its offset.
        consumer = self._consumer
        consumer.pause(consumer.assignment())
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            first: dict[Partition, int] = {}
            for r in consumer.poll(self._batch_size, min(remaining, 0.25)):
                first.setdefault((r.topic, r.partition), r.offset)
            for partition, offset in first.items():
                consumer.seek(partition, offset)
            consumer.pause(set(first))
            self._after_poll()
            consumer.pause(consumer.assignment())
        consumer.resume(consumer.assignment())

    def _commit(self, records: list[Record]) -> None:
        offsets: dict[Partition, int] = {}
        for r in records:
            key = (r.topic, r.partition)
            offsets[key] = max(offsets.get(key, 0), r.offset + 1)
        assigned = self._consumer.assignment()
        offsets = {k: v for k, v in offsets.items() if k in assigned}
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
        except ConnectionError as exc:
            self.stats.commit_failures += 1
            _log.warning(
                "collector %s: %s; the batch is stored, and whoever reads it again stores "
                "it once (idempotent on the event id)",
                self.group,
                exc,
            )
            return
        self.stats.commits += 1

    def close(self) -> None:
        """
        Leave the group (the partitions move to the others at once) and disconnect;
        the sink is the caller's to close.
        """
        self._stop.set()
        try:
            self._consumer.close()
        finally:
            verifier = self.verifier
            if verifier is not None and verifier.waiting():
                _log.info(
                    "collector %s: %d record(s) were waiting for a lower seq or a checkpoint "
                    "to verify from (stored, not verified)",
                    self.group,
                    verifier.waiting(),
                )
