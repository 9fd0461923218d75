"""
Signed checkpoints: a stream's size and Merkle root, in the C2SP signed-note format.

The body is a C2SP ``tlog-checkpoint``: the origin line (``<log name>/<stream id>``),
the tree size in decimal, the base64 root hash, then extension lines of our own:

- ``time <RFC 3339 UTC>`` when the checkpoint was made;
- ``frontier <base64> ...`` the subtree roots of the tree at this size (see
  :class:`~audit_logging._integrity.merkle.Frontier`) and ``last <base64>`` the
  last leaf hash, so a verifier can start the stream at this checkpoint when the
  records before it were deleted by retention (they are checked against the root);
- ``final`` on the checkpoint written at close: nothing may follow it.

The signed note is the body, a blank line, and one line per signature,
``— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>``; the
signed message is the body, final newline included (C2SP signed-note). Every
extension line is therefore signed too.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field

from audit_logging._integrity.keys import Keyring, SigningKey
from audit_logging._integrity.merkle import Frontier

__all__ = ["Checkpoint", "SignatureStatus", "parse_note", "sign_checkpoint"]

_DASH = "\u2014"


class SignatureStatus(enum.StrEnum):
    """
    What the signatures of a checkpoint say under a keyring.
    """

    VALID = "valid"
    """At least one signature by a trusted key verifies, and none by a trusted key fails."""
    FORGED = "forged"
    """A signature claiming a trusted key does not verify: the note was altered or forged."""
    UNKNOWN_KEY = "unknown_key"
    """No signature is by a key the verifier trusts (missing rotated key, or a foreign signer)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """
    One stream's tree head at ``size``: what a signature vouches for.
    """

    origin: str
    size: int
    root: bytes
    time: str = ""
    frontier: tuple[bytes, ...] = ()
    last_leaf: bytes = b""
    final: bool = False
    signatures: tuple[tuple[str, bytes, bytes], ...] = field(default=(), compare=False)
    """(key name, key id, signature) as read from a note."""

    @property
    def stream(self) -> str:
        """
        The stream id: the origin's last path segment.
        """
        return self.origin.rsplit("/", 1)[-1]

    def body(self) -> str:
        """
        The signed text, ending with a newline.
        """
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        if self.time:
            lines.append(f"time {self.time}")
        if self.size:
            lines.append(
                "frontier " + " ".join(base64.b64encode(h).decode() for h in self.frontier)
            )
            lines.append("last " + base64.b64encode(self.last_leaf).decode())
        if self.final:
            lines.append("final")
        return "\n".join(lines) + "\n"

    def start_frontier(self) -> Frontier:
        """
        The frontier this checkpoint carries (to continue a stream from here).

        Raises:
            ValueError: the frontier does not fit the size.
        """
        return Frontier(self.size, self.frontier)

    def status(self, keyring: Keyring) -> SignatureStatus:
        """
        Check the signatures against the trusted keys.
        """
        message = self.body().encode()
        good = False
        for name, key_id, signature in self.signatures:
            key = keyring.get(name, key_id)
            if key is None:
                continue
            if not key.verify(signature, message):
                return SignatureStatus.FORGED
            good = True
        return SignatureStatus.VALID if good else SignatureStatus.UNKNOWN_KEY


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> str:
    """
    The signed note of ``checkpoint``: body, blank line, one signature line.
    """
    body = checkpoint.body()
    sig = base64.b64encode(key.key_id + key.sign(body.encode())).decode()
    return f"{body}\n{_DASH} {key.name} {sig}\n"


def _b64(text: str, what: str, size: int | None = 32) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if size is not None and len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes")
    return raw


def parse_note(note: str) -> Checkpoint:
    """
    Read a signed checkpoint note (signatures are kept, not checked: see :meth:`Checkpoint.status`).

    Raises:
        ValueError: the note is not a well-formed checkpoint; the message says what is wrong.
    """
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise ValueError("no blank line between the checkpoint and its signatures")
    lines = body.split("\n")
    if len(lines) < 3 or not lines[0]:
        raise ValueError("a checkpoint starts with origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise ValueError(f"tree size {size_text!r:.30} is not a decimal number")
    size = int(size_text)
    root = _b64(root_text, "the root hash")
    time, last, final = "", b"", False
    frontier: tuple[bytes, ...] = ()
    for line in lines[3:]:
        word, _, rest = line.partition(" ")
        if word == "time":
            time = rest
        elif word == "frontier":
            frontier = tuple(_b64(h, "a frontier hash") for h in rest.split())
        elif word == "last":
            last = _b64(rest, "the last leaf hash")
        elif word == "final" and not rest:
            final = True
        elif not line:
            raise ValueError("empty extension line")
    signatures = []
    for line in sigs.split("\n"):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:
            raise ValueError(f"malformed signature line {line!r:.60}")
        raw = _b64(parts[2], "a signature", None)
        if len(raw) < 5:
            raise ValueError("a signature is too short")
        signatures.append((parts[1], raw[:4], raw[4:]))
    if not signatures:
        raise ValueError("the checkpoint has no signature")
    cp = Checkpoint(origin, size, root, time, frontier, last, final, tuple(signatures))
    if cp.body() != body + "\n":
        raise ValueError("the checkpoint body is not in canonical form")
    return cp
