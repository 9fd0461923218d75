"""
The redaction engine's rules for the shapes a hostile-input review found leaking.

Each case here reached the file, the database, the spill and the history before
the engine learnt it: plural and prefixed keys, bytes keys and header pairs,
``SECRET_KEY=`` text, PEM blocks, JWTs, cloud signatures, ``mysql -p``, card
numbers, objects whose ``str()`` holds a secret, and the event source. The
protected identifiers (user ids, key ids of envelopes) are never altered.
"""

from __future__ import annotations

from typing import Any

import pytest

from audit_logging.crypto import decrypt_event, encrypt_event, generate_aes_key
from audit_logging.events import new_event
from audit_logging.sanitize import (
    MASK,
    keep_value,
    mask_secrets_in_text,
    register_sanitizer,
    sanitize_payload,
    unregister_sanitizer,
)


def _payload(payload: Any) -> Any:
    return sanitize_payload(new_event("test_event", "tests", payload)).payload


@pytest.mark.parametrize(
    "key",
    ["passwords", "tokens", "secrets", "cookies", "api_keys", "pass", "pw", "jwt", "key",
     "password_hash", "X-Api-Key", "x_auth_token", "session_id", "SessionId", "sig",
     "X-Amz-Signature", "pan", "passes", "Set-Cookie"],
)  # fmt: skip
def test_keys_outside_the_old_rules_are_masked(key: str) -> None:
    assert _payload({key: "v4lue-s3cr3t"}) == {key: MASK}


@pytest.mark.parametrize("key", ["max_tokens", "prompt_tokens", "token_id", "cache_key", "keyring"])
def test_counts_and_lookalikes_are_kept(key: str) -> None:
    assert _payload({key: "12"}) == {key: "12"}


def test_bytes_keys_and_header_pairs_are_masked() -> None:
    """ASGI headers ((b"cookie", b"...") pairs) and [("Cookie", ...)] lists."""
    payload = {
        b"password": "bp",
        "headers": [("Cookie", "sid=1"), ("Accept", "text/html"), [b"authorization", b"Bearer x"]],
    }
    assert _payload(payload) == {
        b"password": MASK,
        "headers": [("Cookie", MASK), ("Accept", "text/html"), [b"authorization", MASK]],
    }


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("SECRET_KEY=abcdef123", "SECRET_KEY=****"),
        ("export AWS_SECRET_ACCESS_KEY=wJalr", "export AWS_SECRET_ACCESS_KEY=****"),
        ("session_id=abc123456; path=/", "session_id=****; path=/"),
        ("GET /f?sig=abc&X-Amz-Signature=deadbeef&x=1", "GET /f?sig=****&X-Amz-Signature=****&x=1"),
        ("X-Goog-Signature: 0123abcd", "X-Goog-Signature: ****"),
        ("mysql -uroot -pS3cr3t db", "mysql -uroot -p**** db"),
        ("mysqldump -h h -pS3cr3t db", "mysqldump -h h -p**** db"),
        ("mysql -h h -p db", "mysql -h h -p db"),  # -p alone prompts; db is the database
        ("mysql -h h -P3306 -u root", "mysql -h h -P3306 -u root"),
        ("sshpass -p hunter2 ssh host", "sshpass -p **** ssh host"),
        ("pass=hunter2 pw: hunter3", "pass=**** pw: ****"),
        ("--password=hunter2", "--password=****"),
        ("postgresql+psycopg://h/db?password=S3cr3t", "postgresql+psycopg://h/db?password=****"),
        ("IDENTIFIED BY 'S3cr3t'", "IDENTIFIED BY '****'"),
        ("token_id=42 max_tokens=10", "token_id=42 max_tokens=10"),
    ],
)
def test_text_rules(text: str, masked: str) -> None:
    assert mask_secrets_in_text(text) == masked


def test_pem_private_key_blocks_are_masked_whole() -> None:
    pem = (
        "key follows\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nQ2xV\n"
        "-----END RSA PRIVATE KEY-----\ndone"
    )
    out = mask_secrets_in_text(pem)
    assert "MIIEow" not in out
    assert "Q2xV" not in out
    assert out.startswith("key follows\n-----BEGIN RSA PRIVATE KEY-----")
    assert out.endswith("-----END RSA PRIVATE KEY-----\ndone")
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert mask_secrets_in_text(cert) == cert  # public: kept


def test_a_jwt_loses_its_signature() -> None:
    """Header and claims stay readable (debugging); without the signature it is no credential."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1NDIifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    out = mask_secrets_in_text(f"token was {jwt} then")
    assert "SflKxwRJ" not in out
    assert out == "token was eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1NDIifQ.**** then"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 4111 1111 1111 1111 ok", "card 4111 11** **** 1111 ok"),
        ("4111-1111-1111-1111", "4111-11**-****-1111"),
        ("pan 4111111111111111", "pan 411111******1111"),
        ("amex 378282246310005", "amex ***********0005"),
        ("order 4111111111111112", "order 4111111111111112"),  # fails Luhn: no card
        ("at 2026-12-03T14:24:55Z", "at 2026-12-03T14:24:55Z"),
    ],
)
def test_card_numbers_keep_at_most_first_six_and_last_four(text: str, masked: str) -> None:
    out = mask_secrets_in_text(text)
    assert out == masked
    assert mask_secrets_in_text(out) == out  # a fixed point


def test_identifiers_are_never_altered_by_value_patterns() -> None:
    """A user id that passes Luhn, a username shaped like a secret, a key id: kept."""
    payload = {
        "user_id": "4111111111111111",
        "username": "password=hunter2",
        "record_id": "token:abc",
        "orderId": "4111 1111 1111 1111",
        "user": {"password": "x", "name": "n"},  # a container under an identifier is walked
    }
    assert _payload(payload) == {**payload, "user": {"password": MASK, "name": "n"}}


def test_an_encrypted_envelope_survives_redaction_and_decrypts() -> None:
    """kid='secret:v1' is bound into the AAD: masking it made the event undecryptable."""
    key = generate_aes_key()
    sealed = encrypt_event(new_event("t", "s", {"a": 1}), key, key_id="secret:v1")
    kept = sanitize_payload(sealed)
    assert kept is sealed
    assert decrypt_event(kept, key).payload == {"a": 1}


def test_an_envelope_lookalike_with_extra_keys_is_redacted() -> None:
    """Only an exact envelope passes untouched: the marker alone is no exemption."""
    fake = {"__audit_encrypted__": 1, "password": "x"}
    assert _payload(fake) == {"__audit_encrypted__": 1, "password": MASK}


def test_objects_whose_str_holds_a_secret_are_written_masked() -> None:
    class Conn:
        def __str__(self) -> str:
            return "Conn(dsn=postgresql://u:S3cr3t@h/db)"

    assert _payload({"conn": Conn()}) == {"conn": "Conn(dsn=postgresql://u:****@h/db)"}


def test_the_event_source_is_masked() -> None:
    evt = sanitize_payload(new_event("t", "worker password=hunter2", {}))
    assert evt.source == "worker password=****"


def test_a_default_rule_can_be_switched_off_and_on_again() -> None:
    """register_sanitizer(key, keep_value) lets a non-secret 'pin' through."""
    register_sanitizer("pin", keep_value)
    try:
        assert _payload({"pin": "branch-7"}) == {"pin": "branch-7"}
    finally:
        unregister_sanitizer("pin")
    assert _payload({"pin": "branch-7"}) == {"pin": MASK}


def test_a_bus_policy_masks_keeps_and_patterns_per_bus() -> None:
    """redact_keys / keep_keys / redact_patterns (BusConfig, so dictConfig's "bus" dict too)."""
    from audit_logging import Bus

    payload = {"iban": "DE89370400440532013000", "pin": "branch-7", "note": "ACME-" + "F" * 32}
    with Bus(
        asynchronous=False,
        lifecycle_events=False,
        redact_keys=["IBAN"],
        keep_keys=["pin"],
        redact_patterns=[r"ACME-[0-9A-F]{32}"],
    ) as bus:
        bus.publish(new_event("t", "s", payload))
        (evt,) = bus.history({"role": "admin"})
    assert evt.payload == {"iban": MASK, "pin": "branch-7", "note": MASK}
    with Bus(asynchronous=False, lifecycle_events=False) as plain:
        plain.publish(new_event("t", "s", payload))
        (other,) = plain.history({"role": "admin"})
    assert other.payload == {**payload, "pin": MASK}  # the policy is this bus's only


def test_a_bus_policy_is_checked_naming_the_option() -> None:
    from audit_logging import Bus, ConfigurationError

    with pytest.raises(ConfigurationError, match=r"^redact_patterns: .* not a regular expression"):
        Bus(redact_patterns=["("])
    with pytest.raises(ConfigurationError, match=r"^keep_keys: 'pin' is both masked and kept"):
        Bus(redact_keys=["pin"], keep_keys=["pin"])
    with pytest.raises(ConfigurationError, match=r"^redact_keys: expected a str or a list"):
        Bus(redact_keys=5)
