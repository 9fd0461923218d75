"""
AES-256-GCM payload encryption.

A public face: the implementation lives in :mod:`audit_logging._security.crypto`.
"""

from audit_logging._security.crypto import (
    ALGORITHM,
    ENCRYPTED_MARKER,
    KEY_SIZE,
    decrypt_event,
    encrypt_event,
    generate_aes_key,
    is_encrypted_payload,
)

__all__ = [
    "ALGORITHM",
    "ENCRYPTED_MARKER",
    "KEY_SIZE",
    "decrypt_event",
    "encrypt_event",
    "generate_aes_key",
    "is_encrypted_payload",
]
