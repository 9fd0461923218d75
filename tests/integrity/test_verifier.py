"""StreamVerifier fed record by record, as a live consumer (the collector) uses it."""

from __future__ import annotations

from audit_logging._integrity import (
    Chain,
    Checkpoint,
    Keyring,
    Kind,
    Sealed,
    StreamVerifier,
    generate_signing_key,
    record_leaf,
)


class MemoryStore:
    """Checkpoints kept in a list."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def write(self, note: str, checkpoint: Checkpoint) -> None:
        self.notes.append(note)

    def close(self) -> None:
        pass


def _stream(n: int, every: int = 4, close: bool = True):
    key = generate_signing_key("k")
    store = MemoryStore()
    chain = Chain(key, store, every=every, interval=0)
    records = []
    for i in range(n):
        body = b'{"i":%d}' % i
        seq, prev, leaf = chain.seal(body)
        chain.commit()
        records.append(Sealed(chain.stream, seq, prev, False, leaf))
    if close:
        chain.close()
    return key, store.notes, records


def test_checkpoints_after_their_records_are_checked():
    """A checkpoint added after the records it covers is still verified (live order)."""
    key, notes, records = _stream(12)
    v = StreamVerifier(Keyring([key]))
    for i, r in enumerate(records):
        v.add_record(r, f"r{i}")
        if (i + 1) % 4 == 0:
            v.add_checkpoint(notes[(i + 1) // 4 - 1], f"cp{i}")
    report = v.finish()
    assert report.findings == []
    assert report.checkpoints == 3


def test_late_checkpoint_catches_an_edit():
    """A record changed before its checkpoint arrives is reported when it does."""
    key, notes, records = _stream(8, close=False)
    bad = records[5]
    forged = Sealed(
        bad.stream, bad.seq, bad.prev, False, record_leaf(bad.stream, 5, bad.prev, b"x")
    )
    v = StreamVerifier(Keyring([key]))
    for i, r in enumerate(records[:7]):
        v.add_record(forged if i == 5 else r, f"r{i}")
    v.add_checkpoint(notes[0], "cp0")
    v.add_checkpoint(notes[1], "cp1")
    report = v.finish()
    assert Kind.EDITED in {f.kind for f in report.findings}


def test_commit_rolls_back_unstored_records():
    """Records sealed but not stored give their numbers back: the next one reuses them."""
    chain = Chain(generate_signing_key("k"), MemoryStore(), interval=0)
    chain.seal(b"a")
    chain.seal(b"b")
    chain.commit(1)
    seq, prev, _ = chain.seal(b"c")
    assert seq == 1
    assert prev == record_leaf(chain.stream, 0, b"\x00" * 32, b"a")


def test_interval_timer_writes_a_checkpoint():
    """A record waiting longer than the interval gets a checkpoint without more traffic."""
    import threading

    store = MemoryStore()
    written = threading.Event()
    chain = Chain(
        generate_signing_key("k"),
        store,
        every=1000,
        interval=0.05,
        on_checkpoint=lambda _: written.set(),
    )
    chain.seal(b"a")
    chain.commit()
    assert written.wait(5)
    assert len(store.notes) == 1
    chain.close()


def test_callback_failure_is_logged_not_raised(caplog):
    """A failing on_checkpoint callback never makes a write fail."""

    def boom(note: str) -> None:
        raise RuntimeError("witness down")

    chain = Chain(generate_signing_key("k"), MemoryStore(), every=1, interval=0, on_checkpoint=boom)
    chain.seal(b"a")
    chain.commit()
    assert "checkpoint callback failed" in caplog.text
    assert "PRIVATE+KEY" not in caplog.text
