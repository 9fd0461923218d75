"""
The spill line format: how one event is written, and how a line is checked and read.

One line per event: the canonical event object (the keys of
:meth:`Event.to_json_bytes`) plus ``"subscription"`` (the name of the
subscription the copy is for, or ``null`` for all), plus an integrity field
appended last::

    body = dumps({...canonical..., "subscription": sub})
    line = body[:-1] + b',"crc32":"%08x"}\\n' % zlib.crc32(body)
    line = body[:-1] + b',"hmac":"<hex HMAC-SHA256(key, body)>"}\\n'    # with a key

So a line stays one plain JSON object that ``jq`` can read, and the verifier
strips the fixed-length suffix, puts back ``}`` and recomputes. CRC-32 catches
torn lines and bit flips; only the HMAC stops forging: without a key anyone
who can write to the directory can append a line with a valid CRC. With a key
configured, unsigned (crc32-only) lines and lines with a bad MAC are refused,
never delivered; without a key, signed lines cannot be checked and are refused
too (set the same key to replay them).

A span that is valid but not sampled also carries ``"trace_flags"`` as an
integer, and a sampled one none (it reads back as sampled): the format spill
files had before the canonical form gained its hex ``"trace_flags"``, kept so that
files written by one version replay in another; a replay must not turn an
unsampled trace into a sampled one.

Bad lines (torn, no newline at end of file, invalid JSON or UTF-8, NaN or
Infinity, bad CRC or MAC, invalid event fields) raise :class:`BadLine` naming
the reason. Tolerated, not bad: empty lines (skipped), a CRLF line ending and a
UTF-8 BOM at the start of a line (both stripped: our lines start with ``{`` and
never hold a raw CR, so stripping them cannot change an event).

The replay checkpoint (``*.replaying.pos``) is one line of its own format:
byte offset and line number in hex, guarded by a CRC-32.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import zlib
from typing import Any, NoReturn

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging._model import encoding as _encoding
from audit_logging._model.event import Event

__all__ = [
    "MIN_KEY_BYTES",
    "BadLine",
    "checkpoint",
    "encode_line",
    "make_mac",
    "parse_checkpoint",
    "read_line",
]

MIN_KEY_BYTES = 16
"""Shortest HMAC key accepted: a shorter one is too easy to guess."""

_BOM = b"\xef\xbb\xbf"
_CRC_PREFIX = b',"crc32":"'
_CRC_SUFFIX_LEN = len(_CRC_PREFIX) + 8 + 2
_CRC_RE = re.compile(rb',"crc32":"([0-9a-f]{8})"\}')
_HMAC_PREFIX = b',"hmac":"'
_HMAC_SUFFIX_LEN = len(_HMAC_PREFIX) + 64 + 2
_HMAC_RE = re.compile(rb',"hmac":"([0-9a-f]{64})"\}')
_CHECKPOINT_RE = re.compile(rb"([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{8})\n")


class BadLine(Exception):
    """
    A spill line that must not be delivered; ``reason`` says why.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _bad(reason: str) -> NoReturn:
    raise BadLine(reason)


def make_mac(key: bytes) -> hmac.HMAC:
    """
    The HMAC-SHA256 state lines are signed and checked with (copied per line).
    """
    return hmac.new(bytes(key), digestmod=hashlib.sha256)


def encode_line(evt: Event[Any], subscription: str | None, mac: hmac.HMAC | None) -> bytes:
    """
    The spill line of ``evt`` for ``subscription`` (None = every subscription).

    Raises:
        TypeError: ``subscription`` is neither a str nor None.
    """
    if subscription is not None and not isinstance(subscription, str):
        raise TypeError("subscription must be a str or None")
    record = evt._canonical()
    record.pop("trace_flags", None)  # the canonical hex; the spill line keeps its integer form
    record["subscription"] = subscription
    flags = evt.span_context.trace_flags
    if flags != TraceFlags.SAMPLED and evt.span_context.is_valid:
        record["trace_flags"] = int(flags)
    body = _encoding.dumps(record)
    if mac is not None:
        signer = mac.copy()
        signer.update(body)
        return body[:-1] + _HMAC_PREFIX + signer.hexdigest().encode("ascii") + b'"}\n'
    return body[:-1] + b'%s%08x"}\n' % (_CRC_PREFIX, zlib.crc32(body))


def read_line(raw: bytes, mac: hmac.HMAC | None) -> tuple[Event[Any], str | None, bytes] | None:
    """
    Check and parse one raw line as read from a spill file (with its newline).

    Returns:
        ``(event, subscription, line)`` where ``line`` is the line without its
        ending, BOM or CR (what a kept line is rewritten as); None for an empty line.

    Raises:
        BadLine: the line is torn, corrupt, forged or not an event.
    """
    complete = raw.endswith(b"\n")
    line = raw[:-1] if complete else raw
    if line.endswith(b"\r"):
        line = line[:-1]
    if line.startswith(_BOM):
        line = line[len(_BOM) :]
    if not line:
        return None
    if not complete:
        _bad("torn line: no newline at end of file")
    evt, subscription = _parse(line, mac)
    return evt, subscription, line


def _parse(line: bytes, mac: hmac.HMAC | None) -> tuple[Event[Any], str | None]:
    """
    Verify the integrity field and parse the line strictly; raises BadLine.
    """
    if line.startswith(b"{") and line[-_HMAC_SUFFIX_LEN:].startswith(_HMAC_PREFIX):
        m = _HMAC_RE.fullmatch(line, len(line) - _HMAC_SUFFIX_LEN)
        if m is None:
            _bad("malformed hmac field")
        if mac is None:
            _bad("signed line (hmac) but no spill key is configured")
        body = line[:-_HMAC_SUFFIX_LEN] + b"}"
        checker = mac.copy()
        checker.update(body)
        if not hmac.compare_digest(checker.hexdigest().encode("ascii"), m.group(1)):
            _bad("hmac mismatch: forged or corrupted line")
    elif line.startswith(b"{") and line[-_CRC_SUFFIX_LEN:].startswith(_CRC_PREFIX):
        m = _CRC_RE.fullmatch(line, len(line) - _CRC_SUFFIX_LEN)
        if m is None:
            _bad("malformed crc32 field")
        if mac is not None:
            _bad("unsigned line (crc32 only) while a spill key is configured")
        body = line[:-_CRC_SUFFIX_LEN] + b"}"
        if b"%08x" % zlib.crc32(body) != m.group(1):
            _bad("crc32 mismatch: corrupted line")
    else:
        _bad("not a spill line: no crc32/hmac integrity field at its end")
    try:
        obj = _encoding.loads(body)  # strict: no NaN/Infinity, valid UTF-8; big ints exact
    except ValueError as exc:
        _bad(f"invalid JSON: {str(exc)[:200]}")
    if not isinstance(obj, dict):
        _bad("not a JSON object")
    subscription = obj.pop("subscription", None)
    if subscription is not None and not isinstance(subscription, str):
        _bad("field 'subscription' must be a string or null")
    flags = obj.pop("trace_flags", None)
    if flags is not None and (type(flags) is not int or not 0 <= flags <= 0xFF):
        _bad("field 'trace_flags' must be an integer 0-255")
    try:
        evt = Event.from_dict(obj)
    except (ValueError, TypeError) as exc:
        _bad(f"invalid event: {str(exc)[:200]}")
    if flags is not None and evt.span_context.is_valid:
        sc = evt.span_context
        span = SpanContext(sc.trace_id, sc.span_id, sc.is_remote, TraceFlags(flags))
        evt = dataclasses.replace(evt, span_context=span)
    return evt, subscription


def checkpoint(offset: int, lineno: int) -> bytes:
    """
    The checkpoint line for a replay that handled everything before ``offset``.
    """
    head = b"%016x %016x" % (offset, lineno)
    return head + b" %08x\n" % zlib.crc32(head)


def parse_checkpoint(data: bytes) -> tuple[int, int] | None:
    """
    ``(offset, line number)`` from a checkpoint; None when it is damaged.
    """
    m = _CHECKPOINT_RE.fullmatch(data)
    if m is None or int(m.group(3), 16) != zlib.crc32(data[:33]):
        return None
    return int(m.group(1), 16), int(m.group(2), 16)
