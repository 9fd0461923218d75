"""
Redaction of secrets and personal data in event payloads.

A public face: the implementation lives in :mod:`audit_logging._security.sanitize`.
"""

from audit_logging._security.sanitize import (
    DEFAULT_SENSITIVE_KEYS,
    MASK,
    PROTECTED_KEYS,
    SENSITIVE_KEY_SUFFIXES,
    keep_value,
    mask_dsn,
    mask_email,
    mask_secret,
    mask_secrets_in_text,
    register_sanitizer,
    registered_sanitizers,
    sanitize_payload,
    unregister_sanitizer,
)

__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "MASK",
    "PROTECTED_KEYS",
    "SENSITIVE_KEY_SUFFIXES",
    "keep_value",
    "mask_dsn",
    "mask_email",
    "mask_secret",
    "mask_secrets_in_text",
    "register_sanitizer",
    "registered_sanitizers",
    "sanitize_payload",
    "unregister_sanitizer",
]
