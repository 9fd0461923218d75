"""
RFC 6962 (Certificate Transparency) Merkle tree hashing, incrementally.

A leaf hash is ``SHA-256(0x00 || record)`` and an interior node
``SHA-256(0x01 || left || right)``; the tree over ``n`` leaves splits at the
largest power of two below ``n`` (RFC 6962 section 2.1, RFC 9162 section 2.1.1),
so the root of a stream is the same whoever computes it and however it was
built. The empty tree's root is ``SHA-256("")``.

A writer never keeps the leaves: :class:`Frontier` holds the roots of the perfect
subtrees the leaves so far decompose into (one per set bit of the size, at most
64), so appending is amortised O(1) and the root is O(log n). The frontier is
also what a signed checkpoint carries, so a verifier can continue a stream whose
first records were legitimately deleted (retention) from that checkpoint on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from audit_logging._integrity.hashing import frontier_extend

__all__ = ["EMPTY_ROOT", "Frontier", "leaf_hash", "node_hash", "root_of"]

_sha256 = hashlib.sha256

EMPTY_ROOT = _sha256(b"").digest()
"""The root hash of the tree with no leaves."""


def leaf_hash(record: bytes) -> bytes:
    """
    The RFC 6962 hash of one leaf: ``SHA-256(0x00 || record)``.
    """
    return _sha256(b"\x00" + record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """
    The RFC 6962 hash of an interior node: ``SHA-256(0x01 || left || right)``.
    """
    return _sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """
    The Merkle tree hash of a whole list of leaf hashes (recursive definition; for tests
    and small trees: the writer and the verifier use :class:`Frontier`).
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


class Frontier:
    """
    The right edge of a growing Merkle tree: enough to append leaves and compute the root.

    ``hashes`` lists the roots of the perfect subtrees, largest (leftmost) first;
    their sizes are the set bits of ``size`` from the highest down.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        hashes = list(hashes)
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(
                f"a frontier of size {size} has {size.bit_count()} hashes, not {len(hashes)}"
            )
        if any(len(h) != 32 for h in hashes):
            raise ValueError("frontier hashes are 32 bytes")
        self.size = size
        self._hashes = hashes

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """
        The subtree roots, leftmost (largest) first.
        """
        return tuple(self._hashes)

    def copy(self) -> Frontier:
        """
        An independent copy (to roll back a batch that did not reach storage).
        """
        twin = Frontier.__new__(Frontier)
        twin.size = self.size
        twin._hashes = list(self._hashes)
        return twin

    def append(self, leaf: bytes) -> None:
        """
        Add one leaf hash: merge equal-sized subtrees from the right (binary carry).
        """
        frontier_extend(self._hashes, self.size, [leaf])
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """
        Append many leaf hashes (the same as :meth:`append` in a loop, with less overhead:
        :func:`~audit_logging._integrity.hashing.frontier_extend`, compiled where built).
        """
        batch = leaves if isinstance(leaves, list) else list(leaves)
        frontier_extend(self._hashes, self.size, batch)
        self.size += len(batch)

    def root(self) -> bytes:
        """
        The root hash of the tree over every leaf appended so far.
        """
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        node = hashes[-1]
        for left in reversed(hashes[:-1]):
            node = _sha256(b"\x01" + left + node).digest()
        return node
