"""
What exactly is hashed for one record, and how the integrity fields are stored.

The leaf of a record in its stream's Merkle tree is ``SHA-256(0x00 || leaf input)``
(RFC 6962) with the leaf input::

    <stream id> <seq> <prev leaf hash, 64 hex>[ replay]\\n<body>

where ``body`` is the record's stored bytes without the integrity fields: the
canonical JSON line of the event as the sink stores it (after redaction and
encryption, so verifying never needs the AES key). The integrity fields are part of
the leaf input, so changing a sequence number, moving a record to another stream or
marking it a replay changes its hash as surely as editing its payload.

How each store keeps the fields, and so how a verifier gets the body back:

- JSON lines: the body with one last member appended,
  ``,"integrity":{"stream":"…","seq":N,"prev":"…"[,"replay":true]}`` before the
  closing brace. The verifier cuts that exact suffix off (:func:`split_line`), so
  the body is the stored bytes themselves, never a re-encoding.
- Database: the columns ``stream``, ``seq``, ``prev_hash``, ``replayed``; the body is
  the canonical JSON line rebuilt from the row's columns.
- Kafka: the value is the body, unchanged; the headers ``audit-stream``,
  ``audit-seq``, ``audit-prev`` (and ``audit-replay: 1``) carry the fields.

The first record of a stream has ``prev`` = 64 zeros.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from audit_logging._integrity.hashing import seal_one

__all__ = [
    "FIELD",
    "ZERO_HASH",
    "Sealed",
    "line_suffix",
    "record_leaf",
    "split_line",
]

FIELD = "integrity"
"""The JSON member holding the integrity fields in a JSON line."""

ZERO_HASH = b"\x00" * 32
"""The ``prev`` of a stream's first record."""

_sha256 = hashlib.sha256

_MARK = b',"integrity":{"stream":"'
_SUFFIX = re.compile(
    rb',"integrity":\{"stream":"([A-Za-z0-9._-]{1,128})","seq":(0|[1-9][0-9]{0,18}),'
    rb'"prev":"([0-9a-f]{64})"(,"replay":true)?\}\}\Z'
)


@dataclass(frozen=True, slots=True)
class Sealed:
    """
    One record's integrity fields and leaf hash, as read back by a verifier.
    """

    stream: str
    seq: int
    prev: bytes
    replay: bool
    leaf: bytes


def record_leaf(stream: str, seq: int, prev: bytes, body: bytes, replay: bool = False) -> bytes:
    """
    The RFC 6962 leaf hash of one record (see the module docstring for the input).
    """
    if body.__class__ is bytes and len(prev) == 32 and seq >= 0:
        return seal_one(stream.encode(), seq, prev, body, replay)
    h = _sha256(
        b"\x00%s %d %s%s\n"
        % (stream.encode(), seq, prev.hex().encode(), b" replay" if replay else b"")
    )
    h.update(body)
    return h.digest()


def line_suffix(stream: str, seq: int, prev: bytes, replay: bool) -> bytes:
    """
    The bytes that replace a JSON line body's closing brace.
    """
    return b',"integrity":{"stream":"%s","seq":%d,"prev":"%s"%s}}' % (
        stream.encode(),
        seq,
        prev.hex().encode(),
        b',"replay":true' if replay else b"",
    )


def split_line(line: bytes) -> tuple[bytes, Sealed] | None:
    """
    A stored JSON line (no newline) as (body, integrity fields), or None without integrity fields.
    """
    at = line.rfind(_MARK)
    m = _SUFFIX.match(line, at) if at >= 0 else None
    if m is None:
        return None
    body = line[:at] + b"}"
    stream_b, seq_b, prev_hex, flag = m.groups()
    replay = flag is not None
    # The leaf input straight from the stored bytes (the same as record_leaf, no re-encoding).
    head = b"\x00%s %s %s%s\n" % (stream_b, seq_b, prev_hex, b" replay" if replay else b"")
    leaf = _sha256(head + body).digest()
    return body, Sealed(
        stream_b.decode(), int(seq_b), bytes.fromhex(prev_hex.decode()), replay, leaf
    )
