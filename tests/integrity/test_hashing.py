"""
Integrity's compiled hashing (``audit_logging/_sealing.c``) against the Python reference.

The compiled loops must give the very bytes the Python ones give: sealed lines, leaf
hashes, ``(seq, prev)`` numbers, Merkle frontiers and the SQL sink's row bodies.
Hypothesis generates batches of every shape (streams, sequence numbers, replays, bodies
with escapes and non-ASCII text, rows of every column type) and compares both. Where the
extension is not built (or ``AUDIT_LOGGING_PURE`` is set) the comparisons skip and the
rest of the suite runs on the reference alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_logging import _accel
from audit_logging._integrity import hashing
from audit_logging._integrity.merkle import Frontier, root_of
from audit_logging._integrity.records import record_leaf, split_line
from audit_logging._sinks.database.sealing import row_bodies, row_body

compiled = _accel.sealing
needs_compiled = pytest.mark.skipif(
    compiled is None,
    reason="audit_logging._sealing is not built here (no C compiler or OpenSSL headers "
    "at install) or AUDIT_LOGGING_PURE is set",
)
SETTINGS = settings(max_examples=150, derandomize=True, deadline=None)

streams = st.from_regex(r"[A-Za-z0-9.-]{1,128}", fullmatch=True).map(str.encode)
hashes = st.binary(min_size=32, max_size=32)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
lines = st.lists(
    st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=4).map(
        lambda d: orjson.dumps(d) + b"\n"
    ),
    max_size=12,
)


def _replays(draw: Any, n: int) -> list[bool] | None:
    return draw(st.none() | st.lists(st.booleans(), min_size=n, max_size=n))


@needs_compiled
@SETTINGS
@given(streams, st.integers(0, 2**62), hashes, lines, st.data())
def test_seal_lines_gives_the_reference_bytes(
    stream: bytes, seq: int, prev: bytes, batch: list[bytes], data: st.DataObject
) -> None:
    replays = _replays(data.draw, len(batch))
    expected = hashing.py_seal_lines(stream, seq, prev, batch, replays)
    assert compiled is not None
    assert compiled.seal_lines(stream, seq, prev, batch, replays) == expected
    for line, leaf in zip(expected[0], expected[2], strict=True):
        split = split_line(line[:-1])  # the verifier reads back what was sealed
        assert split is not None
        assert split[1].leaf == leaf


@needs_compiled
@SETTINGS
@given(streams, st.integers(0, 2**62), hashes, st.lists(st.binary(max_size=300)), st.data())
def test_seal_bodies_gives_the_reference_numbers_and_leaves(
    stream: bytes, seq: int, prev: bytes, bodies: list[bytes], data: st.DataObject
) -> None:
    replays = _replays(data.draw, len(bodies))
    expected = hashing.py_seal_bodies(stream, seq, prev, bodies, replays)
    assert compiled is not None
    assert compiled.seal_bodies(stream, seq, prev, bodies, replays) == expected
    text = stream.decode()
    leaves = expected[1]
    flags = replays or [False] * len(bodies)
    for i, (body, (number, prev_hex)) in enumerate(zip(bodies, expected[0], strict=True)):
        assert number == seq + i
        assert leaves[i] == record_leaf(text, number, bytes.fromhex(prev_hex), body, flags[i])


@needs_compiled
@SETTINGS
@given(st.integers(0, 300), st.lists(hashes, max_size=70))
def test_frontier_extend_matches_the_reference_and_the_tree(
    start: int, leaves: list[bytes]
) -> None:
    first = [hashlib.sha256(b"%d" % i).digest() for i in range(start)]
    ours, theirs = Frontier(), Frontier()
    hashing.py_frontier_extend(ours._hashes, 0, first)  # the reference builds the start
    ours.size = start
    theirs.extend(first)
    assert theirs.hashes == ours.hashes
    hashing.py_frontier_extend(ours._hashes, ours.size, leaves)
    assert compiled is not None
    compiled.frontier_extend(theirs._hashes, theirs.size, leaves)
    assert theirs._hashes == ours._hashes
    theirs.size += len(leaves)
    assert theirs.root() == root_of(first + leaves)


@needs_compiled
def test_record_leaf_is_the_same_on_both_paths() -> None:
    assert compiled is not None
    for replay in (False, True):
        body = b'{"id":"x","payload":{"a":"\\u00e9\\n"}}'
        head = b"\x00s-1 7 %s%s\n" % (b"ab" * 32, b" replay" if replay else b"")
        assert compiled.leaf(b"s-1", 7, b"\xab" * 32, body, replay) == (
            hashlib.sha256(head + body).digest()
        )
        assert record_leaf("s-1", 7, b"\xab" * 32, body, replay) == (
            hashlib.sha256(head + body).digest()
        )


@pytest.mark.parametrize(
    "seal", [hashing.py_seal_lines, getattr(compiled, "seal_lines", hashing.py_seal_lines)]
)
@pytest.mark.parametrize(
    ("batch", "replays", "prev", "message"),
    [
        ([b"not json\n"], None, bytes(32), "line 0 is not a JSON object line"),
        ([b"{}\n", b"{}"], None, bytes(32), "line 1 is not a JSON object line"),
        ([b"{}\n"], [True, False], bytes(32), "replays must be None or a list as long"),
    ],
)
def test_a_bad_batch_is_refused_with_the_same_message(
    seal: Any, batch: list[bytes], replays: Any, prev: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        seal(b"s", 0, prev, batch, replays)


@needs_compiled
def test_compiled_checks_its_arguments() -> None:
    assert compiled is not None
    with pytest.raises(ValueError, match="prev must be 32 bytes"):
        compiled.seal_lines(b"s", 0, b"short", [], None)
    with pytest.raises(ValueError, match="over 128"):
        compiled.seal_bodies(b"s" * 129, 0, bytes(32), [], None)
    with pytest.raises(ValueError, match="seq must be >= 0"):
        compiled.leaf(b"s", -1, bytes(32), b"", False)
    with pytest.raises(TypeError, match="line 0 is str, not bytes"):
        compiled.seal_lines(b"s", 0, bytes(32), ["{}\n"], None)
    with pytest.raises(ValueError, match="a frontier of size 3 has 2 hashes, not 1"):
        compiled.frontier_extend([bytes(32)], 3, [])
    frontier = [bytes(32)]
    with pytest.raises(ValueError, match="a leaf hash must be 32 bytes"):
        compiled.frontier_extend(frontier, 1, [b"x"])
    assert frontier == [bytes(32)]  # untouched by the failed call


NAMES = ("id", "type", "time", "source", "payload", "seq_like")
UTC = dt.UTC
column_values = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=0x7F)),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
)
time_values = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),
    st.datetimes(timezones=st.just(dt.timezone(dt.timedelta(hours=2)))),
    st.datetimes().map(lambda t: t.isoformat(" ", "microseconds")),
    st.datetimes().map(lambda t: t.isoformat(" ", "microseconds")[:26]),
    st.text(max_size=30),
)


@needs_compiled
@SETTINGS
@given(st.lists(st.tuples(*[column_values] * 2, time_values, *[column_values] * 3), max_size=8))
def test_row_bodies_are_the_reference_bodies(rows: list[tuple[Any, ...]]) -> None:
    batch = [(object(), values) for values in rows]
    try:
        expected = [row_body(NAMES, values) for _, values in batch]
    except (TypeError, ValueError, OverflowError) as exc:  # a value no writer stores
        with pytest.raises(type(exc)):
            row_bodies(NAMES, batch)
        return
    assert row_bodies(NAMES, batch) == expected


def test_row_bodies_of_the_writer_s_rows() -> None:
    t = dt.datetime(2026, 12, 4, 8, 5, 6, 7, tzinfo=UTC)
    rows: list[Any] = [
        (None, ("a", "user_login", "2026-12-04 08:05:06.000007", "api", '{"x":"\\n"}', None)),
        (None, ("b", 't\u00e9\x01"\\', t, "api", "{}", 12)),
        (None, ("c", "t", t.replace(microsecond=0), "s", "{}", -(2**63))),
    ]
    bodies = row_bodies(NAMES, rows)
    assert bodies == [row_body(NAMES, values) for _, values in rows]
    assert bodies[0] == (
        b'{"id":"a","type":"user_login","time":"2026-12-04T08:05:06.000007Z",'
        b'"source":"api","payload":"{\\"x\\":\\"\\\\n\\"}"}'
    )
    assert orjson.loads(bodies[1])["time"] == "2026-12-04T08:05:06.000007Z"
    assert orjson.loads(bodies[2])["time"] == "2026-12-04T08:05:06.000000Z"
