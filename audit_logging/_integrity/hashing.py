"""
The batch loops of sealing, in Python (the reference) and compiled where built.

A sink seals a whole batch at once: each record gets the next ``seq``, the previous
leaf hash and its own leaf (:mod:`audit_logging._integrity.records`), and the leaves
go into the Merkle frontier when the batch is stored. These loops are most of what
integrity costs per record, and most of that is hashlib's object per hash, not the
hashing: ``audit_logging._sealing`` (C, OpenSSL's SHA-256, the library hashlib uses)
does the same bytes without it. The functions below are the reference; the compiled
ones replace them at import unless ``AUDIT_LOGGING_PURE=1``, and the tests check both
give the same bytes (tests/test_integrity_hashing.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from audit_logging._accel import sealing as _compiled

__all__ = [
    "frontier_extend",
    "py_frontier_extend",
    "py_seal_bodies",
    "py_seal_lines",
    "py_seal_one",
    "seal_bodies",
    "seal_lines",
    "seal_one",
]

_sha256 = hashlib.sha256


def py_seal_lines(
    stream: bytes, seq: int, prev: bytes, lines: list[bytes], replays: list[bool] | None
) -> tuple[list[bytes], int, list[bytes]]:
    """
    Seal JSON lines (``{...}\\n``): the lines with their integrity member, their total
    size, and their leaf hashes, chained from ``prev`` (``replays`` None: none is a replay).
    """
    out: list[bytes] = []
    leaves: list[bytes] = []
    total = 0
    prev_hex = prev.hex().encode()
    sha256 = _sha256
    flags = replays if replays is not None else [False] * len(lines)
    if len(flags) != len(lines):
        raise ValueError("replays must be None or a list as long as the records")
    for i, (line, replay) in enumerate(zip(lines, flags, strict=True)):
        if line[-2:] != b"}\n":
            raise ValueError(f"line {i} is not a JSON object line ({{...}}\\n)")
        body = line[:-1]
        if replay:
            head = b"\x00%s %d %s replay\n" % (stream, seq, prev_hex)
            tail = b',"integrity":{"stream":"%s","seq":%d,"prev":"%s","replay":true}}\n'
        else:
            head = b"\x00%s %d %s\n" % (stream, seq, prev_hex)
            tail = b',"integrity":{"stream":"%s","seq":%d,"prev":"%s"}}\n'
        leaf = sha256(head + body).digest()
        new = body[:-1] + tail % (stream, seq, prev_hex)
        out.append(new)
        total += len(new)
        leaves.append(leaf)
        prev_hex = leaf.hex().encode()
        seq += 1
    return out, total, leaves


def py_seal_one(stream: bytes, seq: int, prev: bytes, body: bytes, replay: bool) -> bytes:
    """
    The leaf hash of one record (``records.record_leaf`` with the stream id as bytes).
    """
    mark = b" replay" if replay else b""
    return _sha256(b"\x00%s %d %s%s\n%s" % (stream, seq, prev.hex().encode(), mark, body)).digest()


def py_seal_bodies(
    stream: bytes, seq: int, prev: bytes, bodies: list[bytes], replays: list[bool] | None
) -> tuple[list[tuple[int, str]], list[bytes]]:
    """
    Seal record bodies: each one's ``(seq, prev as hex)`` and their leaf hashes.
    """
    numbers: list[tuple[int, str]] = []
    leaves: list[bytes] = []
    prev_hex = prev.hex()
    sha256 = _sha256
    flags = replays if replays is not None else [False] * len(bodies)
    if len(flags) != len(bodies):
        raise ValueError("replays must be None or a list as long as the records")
    for body, replay in zip(bodies, flags, strict=True):
        mark = b" replay" if replay else b""
        head = b"\x00%s %d %s%s\n" % (stream, seq, prev_hex.encode(), mark)
        leaf = sha256(head + body).digest()
        numbers.append((seq, prev_hex))
        leaves.append(leaf)
        prev_hex = leaf.hex()
        seq += 1
    return numbers, leaves


def py_frontier_extend(hashes: list[bytes], size: int, leaves: list[bytes]) -> None:
    """
    Append leaf hashes to a Merkle frontier (its subtree roots, leftmost first) in place.
    """
    if len(hashes) != size.bit_count():
        have, want = len(hashes), size.bit_count()
        raise ValueError(f"a frontier of size {size} has {want} hashes, not {have}")
    pop, push = hashes.pop, hashes.append
    sha256 = _sha256
    for leaf in leaves:
        node, carry = leaf, size
        while carry & 1:
            node = sha256(b"\x01" + pop() + node).digest()
            carry >>= 1
        push(node)
        size += 1


def _pick(name: str, reference: Callable[..., Any]) -> Callable[..., Any]:
    return reference if _compiled is None else getattr(_compiled, name)


seal_lines: Callable[
    [bytes, int, bytes, list[bytes], list[bool] | None], tuple[list[bytes], int, list[bytes]]
] = _pick("seal_lines", py_seal_lines)
""":func:`py_seal_lines`, compiled where built."""
seal_one: Callable[[bytes, int, bytes, bytes, bool], bytes] = _pick("leaf", py_seal_one)
""":func:`py_seal_one`, compiled where built."""
seal_bodies: Callable[
    [bytes, int, bytes, list[bytes], list[bool] | None],
    tuple[list[tuple[int, str]], list[bytes]],
] = _pick("seal_bodies", py_seal_bodies)
""":func:`py_seal_bodies`, compiled where built."""
frontier_extend: Callable[[list[bytes], int, list[bytes]], None] = _pick(
    "frontier_extend", py_frontier_extend
)
""":func:`py_frontier_extend`, compiled where built."""
