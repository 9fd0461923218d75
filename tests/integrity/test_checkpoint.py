"""Signed checkpoints: the C2SP note layout, signatures, forgery and unknown keys."""

from __future__ import annotations

import base64

import pytest

from audit_logging._integrity.checkpoint import (
    Checkpoint,
    SignatureStatus,
    parse_note,
    sign_checkpoint,
)
from audit_logging._integrity.keys import Keyring, generate_signing_key
from audit_logging._integrity.merkle import Frontier, leaf_hash


def _checkpoint(size: int = 3, final: bool = False) -> Checkpoint:
    f = Frontier()
    leaves = [leaf_hash(bytes([i])) for i in range(size)]
    for leaf in leaves:
        f.append(leaf)
    return Checkpoint(
        "audit-logging/s1",
        size,
        f.root(),
        "2026-01-01T00:00:00.000000Z",
        f.hashes,
        leaves[-1],
        final,
    )


def test_note_has_the_tlog_checkpoint_layout():
    """Origin, size, base64 root, extensions, blank line, '— name base64(id||sig)'."""
    key = generate_signing_key("k")
    cp = _checkpoint()
    note = sign_checkpoint(cp, key)
    lines = note.split("\n")
    assert lines[0] == "audit-logging/s1"
    assert lines[1] == "3"
    assert base64.b64decode(lines[2]) == cp.root
    blank = lines.index("")
    sig = lines[blank + 1].split(" ")
    assert sig[0] == "\u2014"
    assert sig[1] == "k"
    raw = base64.b64decode(sig[2])
    assert raw[:4] == key.key_id
    assert len(raw) == 4 + 64
    assert note.endswith("\n")


def test_signed_note_parses_and_verifies():
    """A note signed by a trusted key is valid and parses back to the checkpoint."""
    key = generate_signing_key("k")
    cp = _checkpoint(final=True)
    parsed = parse_note(sign_checkpoint(cp, key))
    assert parsed == cp
    assert parsed.stream == "s1"
    assert parsed.status(Keyring([key])) is SignatureStatus.VALID


def test_altered_size_is_forged():
    """Changing a signed line makes a trusted key's signature fail."""
    key = generate_signing_key("k")
    note = sign_checkpoint(_checkpoint(3), key)
    lines = note.split("\n")
    tampered = _checkpoint(2)
    lines[1:3] = ["2", base64.b64encode(tampered.root).decode()]
    lines[3:5] = tampered.body().split("\n")[3:5]
    assert parse_note("\n".join(lines)).status(Keyring([key])) is SignatureStatus.FORGED


def test_signature_by_another_key_is_unknown():
    """A note signed by a key the verifier does not trust is unknown-key."""
    note = sign_checkpoint(_checkpoint(), generate_signing_key("k"))
    other = generate_signing_key("k")
    assert parse_note(note).status(Keyring([other])) is SignatureStatus.UNKNOWN_KEY


@pytest.mark.parametrize(
    "note",
    [
        "",
        "origin\n3\nroot\n",
        "origin\nthree\nAAAA\n\n\u2014 k AAAAAAAA\n",
        "o\n1\n" + base64.b64encode(b"x" * 32).decode() + "\n\n",
    ],
)
def test_malformed_notes_are_refused(note: str):
    """Broken notes raise ValueError, never pass as checkpoints."""
    with pytest.raises(ValueError):
        parse_note(note)
