"""
Verifying a trail record by record: :class:`StreamVerifier`.

Feed it the signed checkpoints (:meth:`~StreamVerifier.add_checkpoint`) and the
records in storage order (:meth:`~StreamVerifier.add_record`), then call
:meth:`~StreamVerifier.finish` for the :class:`~audit_logging._integrity.report.Report`.
Records of many streams may be interleaved (processes sharing a file). Memory per
stream is the Merkle frontier, the leaves since the last verified checkpoint and a
reorder window, so a live consumer (a collector) can keep one open for ever; it may
also add checkpoints after the records they cover, as long as they come before
the next checkpoint of that stream is verified.

Per stream, in ``seq`` order:

- a record must carry the previous record's leaf hash (``prev``), the first one 32
  zero bytes, else the record before it was changed (edited);
- at each checkpoint size the root of the leaves so far must equal the signed root,
  else a record since the previous checkpoint was changed. After such a mismatch
  (and after a gap) the verifier continues from the checkpoint's signed frontier, so
  each later stretch is judged on its own;
- a record stored before a lower ``seq`` is reported as reordered and then checked in
  its place; a ``seq`` seen twice is an inserted record; missing numbers are a gap
  (deleted records); a stream starting after 0 is legitimate only where a signed
  checkpoint has exactly that size and the first record's ``prev`` is its last leaf
  (retention), otherwise its start was deleted;
- a signed checkpoint larger than the stream means the end was truncated; records
  after a ``final`` checkpoint were inserted; records after the last checkpoint of a
  stream that did not close are only chained, and reported as such (a note).

A live reader of a store without one order (Kafka: a stream spreads over partitions)
builds it with ``ordered=False``, so a lower ``seq`` arriving late is put in its place
without a finding, and calls :meth:`~StreamVerifier.release` when it stops waiting
for the numbers still missing (its time bound): they are then a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audit_logging._integrity.checkpoint import Checkpoint, SignatureStatus, parse_note
from audit_logging._integrity.keys import Keyring
from audit_logging._integrity.merkle import Frontier
from audit_logging._integrity.records import ZERO_HASH, Sealed
from audit_logging._integrity.report import Finding, Kind, Report

__all__ = ["DEFAULT_REORDER_WINDOW", "StreamVerifier"]

DEFAULT_REORDER_WINDOW = 4096
"""Records held back per stream while waiting for a lower sequence number."""


@dataclass(slots=True)
class _Stream:
    name: str
    valid: bool = True  # base + tail is the stream's tree (False after a gap until a resync)
    started: bool = False
    next_seq: int = 0
    tip: bytes = ZERO_HASH
    tip_where: str = ""
    base: Frontier = field(default_factory=Frontier)
    base_where: str = "the start"
    tail: list[bytes] = field(default_factory=list)
    stash: dict[int, tuple[Sealed, str]] = field(default_factory=dict)
    pending: dict[int, tuple[Checkpoint, str]] = field(default_factory=dict)
    largest: tuple[Checkpoint, str] | None = None
    seen: dict[int, bytes] = field(default_factory=dict)
    records: int = 0
    after_final: int = 0


class StreamVerifier:
    """
    Verify records and checkpoints of any number of streams as they come.

    Args:
        keyring: The trusted checkpoint keys (old ones too, after a rotation).
        reorder_window: Records per stream held back waiting for a lower ``seq``.
        ordered: The store has one order (a file, a table): a record stored after a
            higher ``seq`` is reported as reordered. False for a live Kafka reader.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        reorder_window: int = DEFAULT_REORDER_WINDOW,
        ordered: bool = True,
    ) -> None:
        self._keyring = keyring
        self._window = max(1, reorder_window)
        self._ordered = ordered
        self._streams: dict[str, _Stream] = {}
        self._report = Report()

    def _stream(self, name: str) -> _Stream:
        st = self._streams.get(name)
        if st is None:
            st = self._streams[name] = _Stream(name)
        return st

    def note(
        self, kind: Kind, stream: str, where: str, detail: str, seq: int | None = None
    ) -> None:
        """
        Add a finding of a reader's own (an unreadable line, a record without integrity fields).
        """
        self._report.findings.append(Finding(kind, stream, where, detail, seq))

    def add_checkpoint(self, note: str, where: str) -> Checkpoint | None:
        """
        Check one signed note; a trusted, well-formed checkpoint is returned and used.
        """
        self._report.checkpoints += 1
        try:
            cp = parse_note(note)
            if Frontier(cp.size, cp.frontier).root() != cp.root or (
                cp.size and len(cp.last_leaf) != 32
            ):
                raise ValueError("its frontier does not give its root")
        except ValueError as exc:
            self.note(Kind.MALFORMED, "", where, f"unreadable checkpoint: {exc}")
            return None
        status = cp.status(self._keyring)
        if status is SignatureStatus.FORGED:
            names = ", ".join(sorted({name for name, _, _ in cp.signatures}))
            self.note(
                Kind.FORGED_CHECKPOINT,
                cp.stream,
                where,
                f"checkpoint of size {cp.size}: the signature by {names} does not verify "
                "(the checkpoint was altered or forged)",
                cp.size,
            )
            return None
        if status is SignatureStatus.UNKNOWN_KEY:
            keys = ", ".join(sorted({f"{n}+{i.hex()}" for n, i, _ in cp.signatures}))
            self.note(
                Kind.UNKNOWN_KEY,
                cp.stream,
                where,
                f"checkpoint of size {cp.size} is signed by no trusted key (signed by {keys})",
                cp.size,
            )
            return None
        st = self._stream(cp.stream)
        if st.largest is None or cp.size >= st.largest[0].size:
            st.largest = (cp, where)
        done = st.next_seq
        if st.started and cp.size <= done:
            self._check_late(st, cp, where)
        else:
            st.pending[cp.size] = (cp, where)
        return cp

    def _check_late(self, st: _Stream, cp: Checkpoint, where: str) -> None:
        # A checkpoint arriving after the records it covers (a live consumer).
        if not st.valid or cp.size < st.base.size:
            return
        frontier = st.base.copy()
        frontier.extend(st.tail[: cp.size - st.base.size])
        if frontier.root() != cp.root:
            self._root_mismatch(st, cp, where)
        st.tail = st.tail[cp.size - st.base.size :]
        st.base, st.base_where = cp.start_frontier(), f"the checkpoint at {where}"

    def add_record(self, sealed: Sealed, where: str) -> None:
        """
        Check one record, in the order the store holds them.
        """
        self._report.records += 1
        st = self._stream(sealed.stream)
        st.records += 1
        seq = sealed.seq
        if st.started and seq < st.next_seq:
            same = st.seen.get(seq) == sealed.leaf
            self.note(
                Kind.INSERTED,
                st.name,
                where,
                f"a second record with seq {seq}"
                + (" (an exact copy)" if same else " (not the one the chain holds)"),
                seq,
            )
            return
        if seq in st.stash:
            self.note(Kind.INSERTED, st.name, where, f"a second record with seq {seq}", seq)
            return
        if seq == st.next_seq and (st.started or seq == 0 or self._vouched(st, sealed)):
            if st.stash and self._ordered:
                first = min(st.stash)
                self.note(
                    Kind.REORDERED,
                    st.name,
                    where,
                    f"seq {seq} is stored after seq {first} ({st.stash[first][1]})",
                    seq,
                )
            self._process(st, sealed, where)
            self._drain(st)
            return
        if not st.started and not st.stash and self._vouched(st, sealed):
            st.next_seq = seq
            self._process(st, sealed, where)
            return
        st.stash[seq] = (sealed, where)
        if len(st.stash) > self._window:
            self._jump(st)

    def held(self, stream: str) -> int:
        """
        Records of ``stream`` held back waiting for a lower ``seq``.
        """
        st = self._streams.get(stream)
        return len(st.stash) if st is not None else 0

    def release(self, stream: str) -> None:
        """
        Stop waiting for the missing numbers of ``stream``: each is reported as a gap
        (or a deleted start) now and the held-back records are checked.
        """
        st = self._streams.get(stream)
        while st is not None and st.stash:
            self._jump(st)

    def _vouched(self, st: _Stream, sealed: Sealed) -> bool:
        hit = st.pending.get(sealed.seq)
        return hit is not None and hit[0].last_leaf == sealed.prev and sealed.seq > 0

    def _drain(self, st: _Stream) -> None:
        stash = st.stash
        while st.next_seq in stash:
            sealed, where = stash.pop(st.next_seq)
            self._process(st, sealed, where)

    def _jump(self, st: _Stream) -> None:
        # Numbers below the smallest held-back one never came: a gap (or a deleted start).
        first = min(st.stash)
        sealed, where = st.stash.pop(first)
        if not st.started:
            self.note(
                Kind.DELETED,
                st.name,
                where,
                f"the stream starts at seq {first}: records 0..{first - 1} are missing and "
                "no signed checkpoint vouches for this start",
                first,
            )
        else:
            self.note(
                Kind.SEQ_GAP,
                st.name,
                where,
                f"seq {st.next_seq}..{first - 1} missing before this record (after "
                f"{st.tip_where}): {first - st.next_seq} record(s) deleted",
                st.next_seq,
            )
        st.valid = False  # the tree cannot be recomputed until a checkpoint resyncs it
        st.tail = []
        st.tip = sealed.prev
        st.next_seq = first
        self._process(st, sealed, where)
        self._drain(st)

    def _process(self, st: _Stream, sealed: Sealed, where: str) -> None:
        seq = sealed.seq
        hit = st.pending.get(seq)
        if hit is not None and (not st.valid or not st.started):
            cp, cp_where = hit
            if not st.valid or seq == 0 or sealed.prev == cp.last_leaf:
                if not st.started and seq:
                    self.note(
                        Kind.RETENTION_START,
                        st.name,
                        where,
                        f"the stream starts at seq {seq}; the checkpoint at {cp_where} vouches "
                        "for this start (earlier records removed by retention)",
                        seq,
                    )
                st.valid = True
                st.base, st.base_where, st.tail = cp.start_frontier(), f"checkpoint {cp_where}", []
                st.tip = cp.last_leaf if seq else ZERO_HASH
                del st.pending[seq]
        if (st.started or seq == 0) and sealed.prev != st.tip:
            self.note(
                Kind.EDITED,
                st.name,
                st.tip_where or where,
                f"the record before seq {seq} ({where}) was changed: this record's prev "
                "hash does not match it",
                seq - 1 if seq else 0,
            )
        st.started = True
        largest = st.largest
        if largest is not None and largest[0].final and seq >= largest[0].size:
            st.after_final += 1
            if st.after_final == 1:
                self.note(
                    Kind.INSERTED,
                    st.name,
                    where,
                    f"seq {seq} comes after the stream's final checkpoint of size "
                    f"{largest[0].size} ({largest[1]})",
                    seq,
                )
        if st.valid:
            st.tail.append(sealed.leaf)
        st.tip, st.tip_where = sealed.leaf, where
        st.seen[seq] = sealed.leaf
        if len(st.seen) > 2 * self._window:
            for old in list(st.seen)[: self._window]:
                del st.seen[old]
        st.next_seq = seq + 1
        hit = st.pending.pop(st.next_seq, None)
        if hit is not None and st.valid:
            cp, cp_where = hit
            frontier = st.base.copy()
            frontier.extend(st.tail)
            if frontier.root() != cp.root:
                self._root_mismatch(st, cp, cp_where)
                frontier = cp.start_frontier()
                st.tip = cp.last_leaf
            st.base, st.base_where, st.tail = frontier, f"checkpoint {cp_where}", []
        elif hit is not None:
            st.pending[st.next_seq] = hit

    def _root_mismatch(self, st: _Stream, cp: Checkpoint, where: str) -> None:
        self.note(
            Kind.EDITED,
            st.name,
            where,
            f"the records after {st.base_where} up to seq {cp.size - 1} do not give the "
            f"root this checkpoint signed: at least one of them was changed",
            cp.size - 1,
        )

    def finish(self) -> Report:
        """
        Report everything found (call once, after the last record and checkpoint).
        """
        report = self._report
        for st in self._streams.values():
            while st.stash:
                self._jump(st)
            largest = st.largest
            if not st.records:
                if largest is not None and largest[0].size:
                    self.note(
                        Kind.TRUNCATED,
                        st.name,
                        largest[1],
                        f"a signed checkpoint counts {largest[0].size} record(s), none is here",
                        0,
                    )
                continue
            if largest is None:
                self.note(
                    Kind.UNSIGNED_STREAM,
                    st.name,
                    st.tip_where,
                    f"{st.records} record(s) and no checkpoint: only chained, not signed (a "
                    "writer killed before its first checkpoint, or records forged wholesale)",
                )
                continue
            cp, where = largest
            if cp.size > st.next_seq:
                self.note(
                    Kind.TRUNCATED,
                    st.name,
                    st.tip_where,
                    f"the stream ends at seq {st.next_seq - 1} but the checkpoint at {where} "
                    f"counts {cp.size} records: seq {st.next_seq}..{cp.size - 1} were cut off",
                    st.next_seq,
                )
            elif cp.size < st.next_seq and not cp.final:
                self.note(
                    Kind.UNVERIFIED_TAIL,
                    st.name,
                    st.tip_where,
                    f"{st.next_seq - cp.size} record(s) after the last checkpoint (size "
                    f"{cp.size}, {cp.time}) are chained but not signed: removing them would go "
                    "unnoticed (at most the writer's checkpoint_every records or "
                    "checkpoint_interval seconds)",
                    cp.size,
                )
        report.streams = len(self._streams)
        if report.records and not any(st.largest for st in self._streams.values()):
            self.note(
                Kind.NO_CHECKPOINTS,
                "",
                "the whole trail",
                f"{report.records} record(s) and no checkpoint signed by a trusted key: nothing "
                "is proven (checkpoints deleted, kept elsewhere, or the wrong keys given)",
            )
        return report
