"""
Payload encryption with AES-256-GCM.

An encrypted event keeps its id, type, source, time and trace ids in clear (so
it can still be routed, stored, sorted and correlated) and carries its payload as
a JSON-safe envelope::

    {"__audit_encrypted__": 1, "alg": "AES-256-GCM", "kid": "<key id>",
     "nonce": "<base64, 12 bytes>", "ct": "<base64, ciphertext + 16-byte tag>"}

The plaintext is the canonical JSON of the payload (:func:`audit_logging._model.encoding.dumps`),
so whatever a payload holds it encrypts, and decrypting gives back plain JSON
types. The associated data binds the envelope to its event: a fixed label, then
format version, key id, event id and event type, each length-prefixed so no two
different tuples encode the same bytes. Moving an envelope to another event, or changing the
event's id or type or the envelope's key id, makes decryption fail.

Every encryption draws a fresh 96-bit nonce from :func:`os.urandom` and stores
it in the envelope; nothing about the nonce is derived from the event or a
counter, so restarts and several processes sharing a key cannot repeat one.
With random nonces NIST SP 800-38D (§8.3) allows at most 2**32 encryptions per
key: rotate keys well before that and tell them apart with ``key_id``.

Decryption failures of every kind (wrong key, any flipped bit, a swapped or
malformed envelope, a payload that is no envelope) raise the same
:class:`~audit_logging.exceptions.DecryptionError` with the same message and no
chained cause, so the error is no oracle, and AES-GCM checks the tag before any
plaintext is released. Keys never appear in messages.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import struct
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audit_logging._model import encoding as _encoding
from audit_logging._model.event import Event
from audit_logging.exceptions import DecryptionError

__all__ = [
    "ALGORITHM",
    "ENCRYPTED_MARKER",
    "KEY_SIZE",
    "decrypt_event",
    "encrypt_event",
    "generate_aes_key",
    "is_encrypted_payload",
]

ENCRYPTED_MARKER: Final = "__audit_encrypted__"
"""The envelope key that marks an encrypted payload; its value is the format version."""

ALGORITHM: Final = "AES-256-GCM"
KEY_SIZE: Final = 32
"""Key length in bytes (AES-256)."""

_VERSION: Final = 1
_NONCE_SIZE: Final = 12
_TAG_SIZE: Final = 16
_ENVELOPE_KEYS: Final = frozenset({ENCRYPTED_MARKER, "alg", "kid", "nonce", "ct"})
_AAD_PREFIX: Final = b"audit_logging/aes-256-gcm"
_FAILED: Final = "decryption failed"


def generate_aes_key() -> bytes:
    """
    Return a new random 32-byte AES-256 key.
    """
    return os.urandom(KEY_SIZE)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray):
        raise TypeError(f"key must be bytes, not {type(key).__name__}")
    if len(key) != KEY_SIZE:
        raise ValueError(f"key must be {KEY_SIZE} bytes for {ALGORITHM}, got {len(key)}")


def _field(text: object) -> bytes:
    data = (text if isinstance(text, str) else str(text)).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(data)) + data


def _associated_data(version: int, key_id: str, evt: Event[Any]) -> bytes:
    """
    version || key id || event id || event type, each length-prefixed.
    """
    return b"".join(
        (_AAD_PREFIX, struct.pack(">I", version), _field(key_id), _field(evt.id), _field(evt.type))
    )


def is_encrypted_payload(payload: object) -> bool:
    """
    True when ``payload`` looks like an envelope made by :func:`encrypt_event`.

    Only the marker is checked, as schema validation does; :func:`decrypt_event`
    is what proves the envelope genuine.
    """
    return isinstance(payload, Mapping) and ENCRYPTED_MARKER in payload


def encrypt_event(evt: Event[Any], key: bytes, *, key_id: str = "") -> Event[Any]:
    """
    Return a copy of ``evt`` whose payload is an AES-256-GCM envelope.

    Sanitize and validate before encrypting: afterwards neither can see inside.
    ``key_id`` names the key in the envelope (in clear, and authenticated) so
    readers can pick the right key after a rotation.

    Raises:
        TypeError: ``key`` is not bytes or ``key_id`` is not a string.
        ValueError: ``key`` is not 32 bytes long.
    """
    _check_key(key)
    if not isinstance(key_id, str):
        raise TypeError(f"key_id must be a str, not {type(key_id).__name__}")
    nonce = os.urandom(_NONCE_SIZE)
    plaintext = _encoding.dumps(evt.payload)
    sealed = AESGCM(bytes(key)).encrypt(nonce, plaintext, _associated_data(_VERSION, key_id, evt))
    envelope = {
        ENCRYPTED_MARKER: _VERSION,
        "alg": ALGORITHM,
        "kid": key_id,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ct": base64.b64encode(sealed).decode("ascii"),
    }
    return dataclasses.replace(evt, payload=envelope)


def _b64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def decrypt_event(evt: Event[Any], key: bytes) -> Event[Any]:
    """
    Return a copy of ``evt`` with its envelope replaced by the plaintext payload.

    The payload comes back as plain JSON types (dicts, lists, str, int, float,
    bool, None), as after :meth:`Event.from_dict`.

    Raises:
        TypeError: ``key`` is not bytes.
        ValueError: ``key`` is not 32 bytes long.
        DecryptionError: anything else; always ``"decryption failed"``, no detail.
    """
    _check_key(key)
    envelope = evt.payload
    if not isinstance(envelope, Mapping) or set(envelope) != _ENVELOPE_KEYS:
        raise DecryptionError(_FAILED)
    version = envelope[ENCRYPTED_MARKER]
    key_id = envelope["kid"]
    nonce = _b64(envelope["nonce"])
    sealed = _b64(envelope["ct"])
    if (
        type(version) is not int
        or version != _VERSION
        or envelope["alg"] != ALGORITHM
        or not isinstance(key_id, str)
        or nonce is None
        or len(nonce) != _NONCE_SIZE
        or sealed is None
        or len(sealed) < _TAG_SIZE
    ):
        raise DecryptionError(_FAILED)
    try:
        plaintext = AESGCM(bytes(key)).decrypt(
            nonce, sealed, _associated_data(version, key_id, evt)
        )
        # The stdlib parser, not orjson: it keeps integers beyond 64 bits exact.
        payload = json.loads(plaintext)
    except (InvalidTag, ValueError):
        raise DecryptionError(_FAILED) from None
    return dataclasses.replace(evt, payload=payload)
