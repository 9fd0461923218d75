"""Checkpoint keys: the signed-note encodings, ids, secrecy and loading from the environment."""

from __future__ import annotations

import pytest

from audit_logging._integrity.keys import (
    Keyring,
    SigningKey,
    VerifierKey,
    generate_signing_key,
    load_signing_key,
)


def test_signer_key_round_trips_through_its_text():
    """PRIVATE+KEY+name+id+key parses back to the same key."""
    key = generate_signing_key("audit-2026")
    again = SigningKey.parse(key.encode())
    assert again.key_id == key.key_id
    assert again.verifier.verify(key.sign(b"m"), b"m")


def test_verifier_key_round_trips_and_checks_its_id():
    """The public text names the key and its id; a wrong id is refused."""
    key = generate_signing_key("k1")
    text = key.verifier.encode()
    assert text.startswith(f"k1+{key.key_id.hex()}+")
    assert VerifierKey.parse(text) == key.verifier
    name, _, b64 = text.split("+", 2)
    with pytest.raises(ValueError, match="id does not match"):
        VerifierKey.parse(f"{name}+00000000+{b64}")


def test_go_note_key_is_accepted():
    """A key in golang.org/x/mod/sumdb/note's format (its documentation example) parses."""
    text = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    key = VerifierKey.parse(text)
    assert key.name == "PeterNeumann"
    assert key.key_id.hex() == "c74f20a3"


def test_signing_key_repr_never_shows_the_secret():
    """repr/str name the key only, so logging a config cannot leak it."""
    key = generate_signing_key("secret-test")
    secret = key.encode().split("+", 4)[4]
    assert secret not in repr(key)
    assert secret not in str(key)


def test_bad_key_error_does_not_echo_the_key():
    """A malformed signer key is refused without quoting it."""
    with pytest.raises(ValueError) as info:
        SigningKey.parse("PRIVATE+KEY+n+00000000+not-base64!!")
    assert "not-base64" not in str(info.value)


def test_load_from_environment_and_file(tmp_path):
    """AUDIT_INTEGRITY_KEY and AUDIT_INTEGRITY_KEY_FILE provide the signer key."""
    key = generate_signing_key("envkey")
    assert load_signing_key(None, {"AUDIT_INTEGRITY_KEY": key.encode()}).key_id == key.key_id
    path = tmp_path / "k"
    path.write_text(key.encode() + "\n")
    assert load_signing_key(None, {"AUDIT_INTEGRITY_KEY_FILE": str(path)}).key_id == key.key_id
    assert load_signing_key(str(path), {}).key_id == key.key_id
    assert load_signing_key(None, {}) is None


def test_keyring_from_text_holds_old_and_new_keys():
    """A keys file lists several keys (rotation); comments and commas are fine."""
    old, new = generate_signing_key("a"), generate_signing_key("b")
    ring = Keyring.from_text(f"# trusted\n{old.verifier.encode()}, {new.encode()}\n")
    assert len(ring) == 2
    assert ring.get("a", old.key_id) is not None
    assert ring.get("b", new.key_id) is not None
    assert ring.get("b", old.key_id) is None
