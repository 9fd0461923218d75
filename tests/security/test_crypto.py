"""
Tests for audit_logging._security.crypto:
AES-256-GCM envelopes, nonce freshness, tampering and keys (S17).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_logging.crypto import (
    ALGORITHM,
    ENCRYPTED_MARKER,
    decrypt_event,
    encrypt_event,
    generate_aes_key,
    is_encrypted_payload,
)
from audit_logging.events import Event, new_event
from audit_logging.exceptions import DecryptionError
from audit_logging.sanitize import sanitize_payload

PLAINTEXT = "very-distinctive-plaintext-4711"


@pytest.fixture
def key() -> bytes:
    """A fresh AES-256 key per test."""
    return generate_aes_key()


@pytest.fixture
def event() -> Event[Any]:
    """An event with a recognisable payload."""
    return new_event("auth_login", "api", {"user_id": "u42", "note": PLAINTEXT}, context_id="c1")


def _env(evt: Event[Any]) -> dict[str, Any]:
    assert isinstance(evt.payload, dict)
    return evt.payload


def _with_envelope(evt: Event[Any], **changes: Any) -> Event[Any]:
    return dataclasses.replace(evt, payload={**_env(evt), **changes})


def _flip(b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


def _assert_opaque_failure(call: Callable[[], object]) -> None:
    with pytest.raises(DecryptionError) as info:
        call()
    assert str(info.value) == "decryption failed"
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_generate_aes_key_is_32_random_bytes() -> None:
    """Keys are 32 bytes and two keys differ."""
    first, second = generate_aes_key(), generate_aes_key()
    assert isinstance(first, bytes)
    assert len(first) == 32
    assert first != second


def test_round_trip_restores_the_payload(key: bytes, event: Event[Any]) -> None:
    """decrypt(encrypt(evt)) gives the payload back and every other field unchanged."""
    restored = decrypt_event(encrypt_event(event, key), key)
    assert restored == event


def test_envelope_has_the_documented_shape(key: bytes, event: Event[Any]) -> None:
    """The payload becomes the marker, algorithm, key id, 12-byte nonce and ciphertext."""
    envelope = _env(encrypt_event(event, key, key_id="2024-q1"))
    assert set(envelope) == {ENCRYPTED_MARKER, "alg", "kid", "nonce", "ct"}
    assert envelope[ENCRYPTED_MARKER] == 1
    assert envelope["alg"] == ALGORITHM == "AES-256-GCM"
    assert envelope["kid"] == "2024-q1"
    assert len(base64.b64decode(envelope["nonce"], validate=True)) == 12
    assert len(base64.b64decode(envelope["ct"], validate=True)) >= 16


def test_envelope_is_json_safe(key: bytes, event: Event[Any]) -> None:
    """The encrypted event encodes with the strict stdlib encoder."""
    envelope = _env(encrypt_event(event, key))
    assert json.loads(json.dumps(envelope, allow_nan=False)) == envelope


def test_encrypt_leaves_the_original_event_alone(key: bytes, event: Event[Any]) -> None:
    """Encryption returns a copy; the clear event keeps its payload and id."""
    before = dict(_env(event))
    encrypted = encrypt_event(event, key)
    assert event.payload == before
    assert encrypted.id == event.id
    assert encrypted.type == event.type


def test_plaintext_is_absent_from_the_envelope(key: bytes, event: Event[Any]) -> None:
    """Neither the payload text nor its base64 appears in the encrypted JSON line."""
    line = encrypt_event(event, key).to_json()
    assert PLAINTEXT not in line
    assert base64.b64encode(PLAINTEXT.encode()).decode()[:16] not in line
    assert "u42" not in line


def test_same_event_encrypts_differently_each_time(key: bytes, event: Event[Any]) -> None:
    """A fresh nonce per call: two encryptions of one event share neither nonce nor ciphertext."""
    first, second = _env(encrypt_event(event, key)), _env(encrypt_event(event, key))
    assert first["nonce"] != second["nonce"]
    assert first["ct"] != second["ct"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_nonce_repeats_in_100k_encryptions(key: bytes) -> None:
    """10^5 encryptions of one event never repeat a nonce (S17, sampled)."""
    evt = new_event("t", "s", {})
    nonces = {_env(encrypt_event(evt, key))["nonce"] for _ in range(100_000)}
    assert len(nonces) == 100_000


@pytest.mark.parametrize("index", [0, 7, -17], ids=["first", "middle", "last-ct-byte"])
def test_flipped_ciphertext_byte_fails(key: bytes, event: Event[Any], index: int) -> None:
    """Changing any ciphertext byte makes decryption fail opaquely."""
    encrypted = encrypt_event(event, key)
    tampered = _with_envelope(encrypted, ct=_flip(_env(encrypted)["ct"], index))
    _assert_opaque_failure(lambda: decrypt_event(tampered, key))


@pytest.mark.parametrize("index", [-16, -1], ids=["tag-first", "tag-last"])
def test_flipped_tag_byte_fails(key: bytes, event: Event[Any], index: int) -> None:
    """Changing a byte of the 16-byte tag makes decryption fail opaquely."""
    encrypted = encrypt_event(event, key)
    tampered = _with_envelope(encrypted, ct=_flip(_env(encrypted)["ct"], index))
    _assert_opaque_failure(lambda: decrypt_event(tampered, key))


@pytest.mark.parametrize("index", [0, 11])
def test_flipped_nonce_byte_fails(key: bytes, event: Event[Any], index: int) -> None:
    """Changing a nonce byte makes decryption fail opaquely."""
    encrypted = encrypt_event(event, key)
    tampered = _with_envelope(encrypted, nonce=_flip(_env(encrypted)["nonce"], index))
    _assert_opaque_failure(lambda: decrypt_event(tampered, key))


def test_wrong_key_fails(key: bytes, event: Event[Any]) -> None:
    """Another key cannot decrypt, and says no more than any other failure."""
    encrypted = encrypt_event(event, key)
    _assert_opaque_failure(lambda: decrypt_event(encrypted, generate_aes_key()))


def test_changed_event_id_fails(key: bytes, event: Event[Any]) -> None:
    """The event id is bound as associated data."""
    encrypted = encrypt_event(event, key)
    moved = dataclasses.replace(encrypted, id=new_event("x").id)
    _assert_opaque_failure(lambda: decrypt_event(moved, key))


def test_changed_event_type_fails(key: bytes, event: Event[Any]) -> None:
    """The event type is bound as associated data."""
    encrypted = encrypt_event(event, key)
    retyped = dataclasses.replace(encrypted, type="auth_logout")
    _assert_opaque_failure(lambda: decrypt_event(retyped, key))


def test_changed_key_id_fails(key: bytes, event: Event[Any]) -> None:
    """The key id in the envelope is authenticated too."""
    encrypted = encrypt_event(event, key, key_id="k1")
    _assert_opaque_failure(lambda: decrypt_event(_with_envelope(encrypted, kid="k2"), key))


def test_envelope_swapped_between_events_fails(key: bytes, event: Event[Any]) -> None:
    """An envelope pasted onto another event does not decrypt."""
    encrypted = encrypt_event(event, key)
    other = new_event(event.type, event.source, {"user_id": "u1"})
    swapped = dataclasses.replace(other, payload=encrypted.payload)
    _assert_opaque_failure(lambda: decrypt_event(swapped, key))


def test_non_event_fields_are_not_bound(key: bytes, event: Event[Any]) -> None:
    """Source and context id are not associated data; only version, key id, id and type are."""
    encrypted = encrypt_event(event, key)
    relabelled = dataclasses.replace(encrypted, source="elsewhere", context_id="c2")
    assert decrypt_event(relabelled, key).payload == event.payload


@pytest.mark.parametrize(
    "change",
    [
        {ENCRYPTED_MARKER: 2},
        {ENCRYPTED_MARKER: True},
        {ENCRYPTED_MARKER: "1"},
        {"alg": "AES-128-GCM"},
        {"kid": 7},
        {"nonce": "not base64!"},
        {"nonce": base64.b64encode(b"short").decode()},
        {"nonce": 12},
        {"ct": base64.b64encode(b"x" * 15).decode()},
        {"ct": "=="},
        {"ct": "\u00e9\u00e9\u00e9\u00e9"},
        {"extra": "field"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_malformed_envelope_fails(key: bytes, event: Event[Any], change: dict[str, Any]) -> None:
    """Any envelope field out of shape is the same opaque failure."""
    encrypted = encrypt_event(event, key)
    _assert_opaque_failure(lambda: decrypt_event(_with_envelope(encrypted, **change), key))


@pytest.mark.parametrize("missing", ["__audit_encrypted__", "alg", "kid", "nonce", "ct"])
def test_envelope_missing_a_field_fails(key: bytes, event: Event[Any], missing: str) -> None:
    """An envelope without one of its fields fails opaquely."""
    envelope = dict(_env(encrypt_event(event, key)))
    del envelope[missing]
    broken = dataclasses.replace(event, payload=envelope)
    _assert_opaque_failure(lambda: decrypt_event(broken, key))


@pytest.mark.parametrize("payload", [None, {"user_id": "u42"}, ["a"], "text", b"bytes"])
def test_payload_that_is_no_envelope_fails(key: bytes, payload: Any) -> None:
    """Decrypting a clear event fails opaquely."""
    _assert_opaque_failure(lambda: decrypt_event(new_event("t", "s", payload), key))


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_wrong_key_length_is_refused_up_front(event: Event[Any], size: int) -> None:
    """A key that is not 32 bytes is a ValueError for both directions."""
    bad = bytes(range(size))
    with pytest.raises(ValueError, match="32 bytes") as enc:
        encrypt_event(event, bad)
    with pytest.raises(ValueError, match="32 bytes") as dec:
        decrypt_event(event, bad)
    assert not isinstance(enc.value, DecryptionError)
    assert not isinstance(dec.value, DecryptionError)


def test_key_never_appears_in_messages(event: Event[Any]) -> None:
    """No error message shows the key, raw, hex or base64."""
    bad = b"K3Y-MATERIAL-should-stay-hidden"  # 31 bytes
    messages = []
    for call in (encrypt_event, decrypt_event):
        with pytest.raises(ValueError) as info:
            call(event, bad)
        messages.append(str(info.value))
    key = generate_aes_key()
    with pytest.raises(DecryptionError) as failure:
        decrypt_event(event, key)
    messages.append(str(failure.value))
    forms = [b"K3Y-MATERIAL", binascii.hexlify(key[:8]), base64.b64encode(key)[:12]]
    for message in messages:
        for form in forms:
            assert form.decode() not in message


def test_key_must_be_bytes(event: Event[Any]) -> None:
    """A str key is a TypeError, not silently encoded."""
    with pytest.raises(TypeError):
        encrypt_event(event, "k" * 32)  # type: ignore[arg-type]


def test_bytearray_key_is_accepted(event: Event[Any]) -> None:
    """A bytearray key works like the same bytes."""
    key = bytearray(generate_aes_key())
    assert decrypt_event(encrypt_event(event, key), bytes(key)) == event  # type: ignore[arg-type]


def test_key_id_must_be_a_string(key: bytes, event: Event[Any]) -> None:
    """A non-string key id is refused."""
    with pytest.raises(TypeError):
        encrypt_event(event, key, key_id=1)  # type: ignore[arg-type]


def test_round_trip_through_the_canonical_json(key: bytes, event: Event[Any]) -> None:
    """An encrypted event written as a JSON line and read back still decrypts."""
    line = encrypt_event(event, key).to_json()
    restored = decrypt_event(Event.from_dict(json.loads(line)), key)
    assert restored.payload == event.payload
    assert restored.id == event.id


def test_non_json_payload_values_come_back_as_their_json_form(key: bytes) -> None:
    """Dataclasses, datetimes and sets are encrypted through the documented fallback."""

    @dataclasses.dataclass(frozen=True)
    class Moved:
        at: dt.datetime
        tags: frozenset[str]

    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    evt = new_event("t", "s", Moved(when, frozenset({"b", "a"})))
    restored = decrypt_event(encrypt_event(evt, key), key)
    assert restored.payload == {"at": "2024-01-02T03:04:05Z", "tags": ["a", "b"]}


def test_big_integers_round_trip_exactly(key: bytes) -> None:
    """Integers beyond 64 bits are not rounded through a float."""
    evt = new_event("t", "s", {"n": 2**100 + 1})
    assert decrypt_event(encrypt_event(evt, key), key).payload == {"n": 2**100 + 1}


@pytest.mark.timeout(60)
def test_sanitizing_an_encrypted_event_changes_nothing(key: bytes) -> None:
    """The bus's sanitizer never alters an envelope, whatever its base64 happens to spell."""
    for i in range(2_000):
        encrypted = encrypt_event(new_event("t", "s", {"n": i, "pad": "x" * (i % 3)}), key)
        assert sanitize_payload(encrypted) is encrypted
    forged = dataclasses.replace(encrypted, payload={**_env(encrypted), "ct": "AAAApwd=="})
    assert sanitize_payload(forged) is forged


def test_is_encrypted_payload(key: bytes, event: Event[Any]) -> None:
    """The marker check tells envelopes from clear payloads."""
    assert is_encrypted_payload(_env(encrypt_event(event, key)))
    assert not is_encrypted_payload(event.payload)
    assert not is_encrypted_payload(None)


def test_marker_matches_the_schemas_module() -> None:
    """Schema validation skips exactly the payloads this module produces."""
    from audit_logging import schemas

    assert schemas.ENCRYPTED_MARKER == ENCRYPTED_MARKER


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=50, deadline=None)
@given(payload=_json_values, key_id=st.text(max_size=8), event_type=st.text(min_size=1))
def test_round_trip_property(payload: Any, key_id: str, event_type: str) -> None:
    """Any JSON payload, key id and event type survive encryption unchanged."""
    key = generate_aes_key()
    evt = new_event(event_type, "s", payload)
    restored = decrypt_event(encrypt_event(evt, key, key_id=key_id), key)
    assert restored.payload == json.loads(json.dumps(payload))
