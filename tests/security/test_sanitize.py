"""
Tests for audit_logging._security.sanitize:
key rules, text rules, containers, cycles, depth and the registry.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_logging.events import Event, new_event
from audit_logging.sanitize import (
    DEFAULT_SENSITIVE_KEYS,
    MASK,
    mask_dsn,
    mask_email,
    mask_secret,
    mask_secrets_in_text,
    register_sanitizer,
    registered_sanitizers,
    sanitize_payload,
    unregister_sanitizer,
)


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Remove whatever a test registered, so the process-wide registry never leaks."""
    before = dict(registered_sanitizers())
    yield
    for key in registered_sanitizers():
        if key not in before:
            unregister_sanitizer(key)


def _payload_of(evt: Event[Any]) -> Any:
    return evt.payload


def _payload(payload: Any) -> Any:
    return sanitize_payload(new_event("test_event", "tests", payload)).payload


# -- defaults by key ----------------------------------------------------------------


def test_email_keeps_first_character_and_domain() -> None:
    """An email value keeps its first character and domain, as in Go."""
    assert _payload({"email": "user@example.com"}) == {"email": "u****@example.com"}


def test_email_without_at_sign_is_fully_masked() -> None:
    """An email value without "@" becomes "****"."""
    assert _payload({"email": "not-an-address"}) == {"email": MASK}


def test_email_that_is_not_a_string_is_fully_masked() -> None:
    """A non-string value under an email key becomes "****"."""
    assert _payload({"email": ["a@b.c"]}) == {"email": MASK}


def test_email_suffix_keys_are_masked_as_emails() -> None:
    """Keys ending in "email" (user_email, Contact-Email) get the e-mail mask."""
    result = _payload({"user_email": "bob@x.org", "Contact-Email": "al@y.org"})
    assert result == {"user_email": "b****@x.org", "Contact-Email": "a****@y.org"}


def test_email_mask_is_stable_for_an_empty_local_part() -> None:
    """Masking "@example.com" twice gives the same "****@example.com"."""
    once = mask_email("email", "@example.com")
    assert once == "****@example.com"
    assert mask_email("email", once) == once


def test_password_is_masked() -> None:
    """A password value becomes "****" [Go default]."""
    assert _payload({"password": "hunter2", "user": "bob"}) == {"password": MASK, "user": "bob"}


@pytest.mark.parametrize("key", sorted(DEFAULT_SENSITIVE_KEYS))
def test_every_default_sensitive_key_is_masked(key: str) -> None:
    """Each documented default key is masked."""
    assert _payload({key: "value-123"}) == {key: MASK}


@pytest.mark.parametrize(
    "key",
    [
        "Password",
        "PASSWORD",
        "API-Key",
        "apiKey",
        "api.key",
        "X-Api-Key",
        "Set-Cookie",
        "Access Token",
    ],
)
def test_keys_match_case_and_separator_insensitively(key: str) -> None:
    """Case, "-", "_", "." and spaces do not matter when matching keys."""
    assert _payload({key: "value-123"}) == {key: MASK}


@pytest.mark.parametrize(
    "key", ["db_password", "newPassword", "csrfToken", "aws_secret_access_key", "github-token"]
)
def test_keys_ending_in_a_sensitive_word_are_masked(key: str) -> None:
    """A key ending in password/secret/token/... is masked."""
    assert _payload({key: "value-123"}) == {key: MASK}


@pytest.mark.parametrize(
    "key", ["token_id", "max_tokens", "cache_key", "partition_key", "password_changed_at", "user"]
)
def test_lookalike_keys_are_kept(key: str) -> None:
    """Identifiers that merely contain a sensitive word are not masked."""
    assert _payload({key: "value-123"}) == {key: "value-123"}


def test_sensitive_key_masks_a_container_value_whole() -> None:
    """A container under a sensitive key becomes "****", not walked."""
    assert _payload({"credentials": {"user": "u", "pw": "p"}}) == {"credentials": MASK}


def test_nested_secrets_are_masked_at_every_level() -> None:
    """The S20 payload: Password and api_key are masked inside dicts and lists."""
    payload = {"user": {"Password": "s3cr3t", "items": [{"api_key": "k"}]}}
    assert _payload(payload) == {"user": {"Password": MASK, "items": [{"api_key": MASK}]}}


def test_original_event_is_untouched() -> None:
    """Sanitizing returns a new event and leaves the original payload as it was."""
    payload = {"user": {"password": "s3cr3t", "tags": ["a"]}, "email": "user@example.com"}
    evt = new_event("test_event", "tests", payload)
    before = copy.deepcopy(payload)
    result = sanitize_payload(evt)
    assert result is not evt
    assert evt.payload == before
    assert evt.payload is payload


def test_sanitized_event_keeps_every_other_field() -> None:
    """Only the payload differs between the event and its sanitized copy."""
    evt = new_event("test_event", "tests", {"password": "x"}, context_id="ctx-1")
    result = sanitize_payload(evt)
    for field in dataclasses.fields(Event):
        if field.name != "payload":
            assert getattr(result, field.name) == getattr(evt, field.name), field.name


def test_clean_event_is_returned_as_is() -> None:
    """With nothing to mask, the very same event object comes back (no copy)."""
    evt = new_event("auth_login", "api", {"user_id": "u42", "n": 3, "tags": ["a", "b"]})
    assert sanitize_payload(evt) is evt


def test_already_masked_event_is_returned_as_is() -> None:
    """Sanitizing a sanitized payload changes nothing and copies nothing."""
    evt = new_event("test_event", "tests", {"password": MASK, "email": "u****@example.com"})
    assert sanitize_payload(evt) is evt


def test_event_without_payload_is_returned_as_is() -> None:
    """A None payload needs no work."""
    evt = new_event("test_event", "tests")
    assert sanitize_payload(evt) is evt


def test_unchanged_subtrees_are_not_copied() -> None:
    """Only the containers on the path to a masked value are rebuilt."""
    clean = {"a": [1, 2, 3]}
    result = _payload({"clean": clean, "password": "x"})
    assert result["clean"] is clean


# -- text rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:s3cr3t@h/db", "postgresql://u:****@h/db"),
        ("redis://:s3cr3t@h:6379/0", "redis://:****@h:6379/0"),
        ("mysql+pymysql://u:p@ss@h/db", "mysql+pymysql://u:****@h/db"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ****"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ****"),
        ("sent bearer abc123== to api", "sent bearer **** to api"),
        ("Cookie: sid=abc; theme=dark", "Cookie: ****"),
        ("password=s3cr3t&user=bob", "password=****&user=bob"),
        ("host=h user=u password=s3cr3t dbname=x", "host=h user=u password=**** dbname=x"),
        ("https://h/cb?access_token=abc&state=1", "https://h/cb?access_token=****&state=1"),
        (
            "UPDATE users SET password = 's3cr3t' WHERE id=1",
            "UPDATE users SET password = '****' WHERE id=1",
        ),
        ("ALTER ROLE bob WITH PASSWORD 's3cr3t'", "ALTER ROLE bob WITH PASSWORD '****'"),
        ("CREATE USER x IDENTIFIED BY 's3cr3t'", "CREATE USER x IDENTIFIED BY '****'"),
        ('{"password": "s3cr3t", "a": 1}', '{"password": "****", "a": 1}'),
        ("{'api_key': 's3cr3t'}", "{'api_key': '****'}"),
        ('{\\"secret\\": \\"s3cr3t\\"}', '{\\"secret\\": \\"****\\"}'),
        ("Driver={X};Server=h;PWD={s3;cr3t};", "Driver={X};Server=h;PWD={****};"),
        ("X-Api-Key: s3cr3t", "X-Api-Key: ****"),
        ("\u0130\u0130 PASSWORD=s3cr3t", "\u0130\u0130 PASSWORD=****"),
    ],
)
def test_secrets_in_text_are_masked(text: str, expected: str) -> None:
    """Each documented text pattern masks just the secret part."""
    assert mask_secrets_in_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["no secrets here", "https://user@example.com/path", "token_id=5", "u42", "a=b c:d", ""],
)
def test_text_without_secrets_is_returned_as_is(text: str) -> None:
    """Text with nothing to mask comes back as the same object."""
    assert mask_secrets_in_text(text) is text


@pytest.mark.parametrize(
    "text", ["AAApwd==", "xxTOKEN=", "q9Cookie==", "Authorization==", "a/SECRET="]
)
def test_base64_padding_is_never_taken_for_a_value(text: str) -> None:
    """Base64 text ending in a keyword plus padding (an envelope's "ct") is left intact."""
    assert mask_secrets_in_text(text) is text


def test_mask_secrets_in_text_refuses_non_strings() -> None:
    """Bytes are not text: a TypeError, not a silent pass."""
    with pytest.raises(TypeError):
        mask_secrets_in_text(b"password=x")  # type: ignore[arg-type]


def test_mask_dsn_masks_url_password() -> None:
    """mask_dsn hides the user-info password of a database URL."""
    assert mask_dsn("postgresql+psycopg://app:s3cr3t@db:5432/audit") == (
        "postgresql+psycopg://app:****@db:5432/audit"
    )


def test_mask_dsn_masks_query_password() -> None:
    """mask_dsn hides a password given as a query parameter."""
    assert mask_dsn("mysql://db/x?user=u&password=s3cr3t") == "mysql://db/x?user=u&password=****"


def test_string_values_of_any_key_are_text_masked() -> None:
    """A DSN under an innocent key (dsn, query, error) is masked by the text rules."""
    result = _payload({"dsn": "postgresql://u:s3cr3t@h/db", "query": "SET password = 'x1'"})
    assert result == {"dsn": "postgresql://u:****@h/db", "query": "SET password = '****'"}


def test_exception_object_message_is_masked() -> None:
    """An exception in a payload is replaced by its masked "Type: message" text."""
    exc = ConnectionError("cannot reach postgresql://u:s3cr3t@h/db")
    assert _payload({"error": exc}) == {
        "error": "ConnectionError: cannot reach postgresql://u:****@h/db"
    }


def test_exception_object_without_secret_is_kept() -> None:
    """An exception with a clean message stays the exception object."""
    exc = ValueError("bad input")
    assert _payload({"error": exc})["error"] is exc


def test_string_payload_is_text_masked() -> None:
    """A payload that is a bare string goes through the text rules."""
    assert _payload("login with password=s3cr3t") == "login with password=****"


@pytest.mark.timeout(30)
def test_long_keyword_dense_text_is_masked_throughout() -> None:
    """A 1 MB string dense with secrets is masked everywhere, in bounded time."""
    text = "password=s3cr3t db://u:s3cr3t@h bearer s3cr3t token: s3cr3t; " * 16_000
    result = mask_secrets_in_text(text)
    assert "s3cr3t" not in result
    assert result.count(MASK) == 4 * 16_000


def test_only_dotted_capital_i_changes_length_when_lower_cased() -> None:
    """The offset-keeping lower-casing relies on U+0130 being the only character that grows."""
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    # lower() never drops a character, so a total growth of one is U+0130's alone.
    assert len("\u0130".lower()) == 2
    assert len(everything.lower()) == len(everything) + 1


# -- containers ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Register:
    user_id: str
    email: str


@dataclasses.dataclass(frozen=True)
class _Card:
    holder: str
    pin: int


@dataclasses.dataclass
class _Derived:
    user: str
    token: str = dataclasses.field(init=False, default="t0")


class _Login(NamedTuple):
    user: str
    password: str


def test_dataclass_with_str_field_stays_its_class() -> None:
    """A masked str field gives a replaced dataclass of the same class."""
    result = _payload(_Register("u1", "bob@example.com"))
    assert result == _Register("u1", "b****@example.com")


def test_dataclass_whose_field_cannot_hold_the_mask_becomes_a_dict() -> None:
    """An int field masked to "****" turns the dataclass into a dict of its fields."""
    assert _payload(_Card("Bob", 1234)) == {"holder": "Bob", "pin": MASK}


def test_dataclass_with_init_false_field_becomes_a_dict() -> None:
    """When dataclasses.replace refuses, the dataclass becomes a dict."""
    assert _payload(_Derived("bob")) == {"user": "bob", "token": MASK}


def test_clean_dataclass_is_kept() -> None:
    """A dataclass with nothing to mask is the same object."""
    payload = _Register("u1", "****@example.com")
    assert _payload(payload) is payload


def test_named_tuple_fields_are_keys() -> None:
    """Named-tuple field names are matched like keys and the class is kept."""
    result = _payload({"login": _Login("bob", "s3cr3t")})
    assert result == {"login": _Login("bob", MASK)}
    assert type(result["login"]) is _Login


def test_tuples_and_sets_keep_their_type() -> None:
    """Rebuilt tuples stay tuples and frozensets stay frozensets."""
    result = _payload({"t": ("pwd=x1", 2), "s": frozenset({"pwd=x2"})})
    assert result == {"t": ("pwd=****", 2), "s": frozenset({"pwd=****"})}


def test_other_mappings_become_dicts_when_changed() -> None:
    """A read-only mapping with a secret comes back as a plain dict."""
    result = _payload({"m": types.MappingProxyType({"password": "x"}), "o": OrderedDict(token="t")})
    assert result == {"m": {"password": MASK}, "o": {"token": MASK}}
    assert type(result["m"]) is dict


def test_non_string_keys_do_not_stop_the_walk() -> None:
    """Values under tuple or int keys are still sanitized."""
    assert _payload({("a", 1): "pwd=x", 2: {"token": "t"}}) == {
        ("a", 1): "pwd=****",
        2: {"token": MASK},
    }


def test_payload_with_100k_keys() -> None:
    """A wide payload is sanitized completely."""
    payload = {f"k{i}": "v" for i in range(100_000)}
    payload["password"] = "x"
    result = _payload(payload)
    assert result["password"] == MASK
    assert len(result) == 100_001


# -- cycles, sharing and depth ------------------------------------------------------


@pytest.mark.timeout(30)
def test_cycle_with_secret_is_cut_and_masked() -> None:
    """A cyclic payload with a secret is masked, the cycle replaced by "<cycle>"."""
    payload: dict[str, Any] = {"password": "x"}
    payload["self"] = payload
    result = _payload(payload)
    assert result == {"password": MASK, "self": "<cycle>"}


@pytest.mark.timeout(30)
def test_cycle_deep_inside_with_secret_never_references_the_original() -> None:
    """No path of the result leads back to the unsanitized original."""
    inner: dict[str, Any] = {"token": "t"}
    outer: dict[str, Any] = {"inner": inner, "items": [inner]}
    inner["parent"] = outer
    result = _payload(outer)
    assert result["inner"] == {"token": MASK, "parent": "<cycle>"}
    assert result["inner"] is result["items"][0]
    assert json.dumps(result)  # acyclic


@pytest.mark.timeout(30)
def test_clean_cycle_is_returned_as_is() -> None:
    """A cyclic payload with nothing to mask is not copied."""
    payload: list[Any] = ["a"]
    payload.append(payload)
    evt = new_event("test_event", "tests", payload)
    assert sanitize_payload(evt) is evt


@pytest.mark.timeout(30)
def test_shared_subtrees_are_sanitized_once_and_stay_shared() -> None:
    """A DAG doubling at each of 60 levels is sanitized in linear time."""
    node: Any = {"password": "x"}
    for _ in range(60):
        node = [node, node]
    result = _payload(node)
    assert result[0] is result[1]


def _deep(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"child": value}
    return value


def _bottom(value: Any) -> Any:
    while isinstance(value, dict) and "child" in value:
        value = value["child"]
    return value


@pytest.mark.timeout(30)
def test_secret_10000_levels_deep_is_masked_without_recursion_error() -> None:
    """The walk is iterative: a secret at depth 10,000 is masked."""
    result = _payload(_deep(10_000, {"password": "s3cr3t"}))
    assert _bottom(result) == {"password": MASK}


@pytest.mark.timeout(30)
def test_clean_payload_10000_levels_deep_is_returned_as_is() -> None:
    """Deep nesting with nothing to mask is neither copied nor a RecursionError."""
    evt = new_event("test_event", "tests", _deep(10_000, "leaf"))
    assert sanitize_payload(evt) is evt


# -- registry and per-call rules ----------------------------------------------------


def test_registered_sanitizer_applies_to_matching_keys() -> None:
    """A registered sanitizer runs for its key, matched case-insensitively."""
    register_sanitizer("Phone", lambda key, value: value[:3] + "****")
    assert _payload({"PHONE": "5551234", "phone_number": "5"}) == {
        "PHONE": "555****",
        "phone_number": "5",
    }


def test_registered_sanitizer_overrides_the_default_for_its_key() -> None:
    """Registering "email" replaces the default e-mail mask."""
    register_sanitizer("email", mask_secret)
    assert _payload({"email": "bob@example.com"}) == {"email": MASK}


def test_unregister_restores_the_default() -> None:
    """After unregister_sanitizer the default rule applies again."""
    register_sanitizer("email", mask_secret)
    assert unregister_sanitizer("EMAIL") is True
    assert _payload({"email": "bob@example.com"}) == {"email": "b****@example.com"}


def test_unregister_unknown_key_returns_false() -> None:
    """Removing a key that was never registered says so."""
    assert unregister_sanitizer("never-registered") is False


def test_registered_sanitizers_is_a_read_only_snapshot() -> None:
    """The listing shows normalised keys and cannot be used to edit the registry."""
    register_sanitizer("X-Phone", mask_secret)
    listing = registered_sanitizers()
    assert listing["xphone"] is mask_secret
    with pytest.raises(TypeError):
        listing["other"] = mask_secret  # type: ignore[index]


def test_register_refuses_non_callable() -> None:
    """A sanitizer must be callable."""
    with pytest.raises(TypeError):
        register_sanitizer("phone", "****")  # type: ignore[arg-type]


def test_register_refuses_empty_key() -> None:
    """A key that normalises to nothing is refused."""
    with pytest.raises(ValueError, match="empty"):
        register_sanitizer("-_ ", mask_secret)


def test_per_call_sanitizers_win_and_keep_the_defaults() -> None:
    """The sanitizers argument adds rules for one call; the defaults still apply."""
    evt = new_event("test_event", "tests", {"phone": "5551234", "password": "x"})
    result = sanitize_payload(evt, {"Phone": lambda key, value: "###"})
    assert result.payload == {"phone": "###", "password": MASK}
    assert sanitize_payload(evt).payload == {"phone": "5551234", "password": MASK}


def test_raising_sanitizer_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    """A sanitizer that raises masks the value and logs the error type, not the value."""

    def broken(key: str, value: Any) -> Any:
        raise RuntimeError(value)

    register_sanitizer("phone", broken)
    with caplog.at_level(logging.ERROR, logger="audit_logging"):
        assert _payload({"phone": "5551234"}) == {"phone": MASK}
    assert "RuntimeError" in caplog.text
    assert "5551234" not in caplog.text


@pytest.mark.timeout(60)
def test_registry_is_safe_under_concurrent_registration() -> None:
    """Registering from one thread while another sanitizes never breaks either."""
    errors: list[BaseException] = []
    done = threading.Event()

    def sanitize_loop() -> None:
        evt = new_event("test_event", "tests", {"password": "x", "k0": "v"})
        try:
            while not done.is_set():
                assert _payload_of(sanitize_payload(evt))["password"] == MASK
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=sanitize_loop)
    worker.start()
    try:
        for i in range(300):
            register_sanitizer(f"k{i}", mask_secret)
    finally:
        done.set()
        worker.join()
    assert not errors
    assert _payload({"k299": "v"}) == {"k299": MASK}


# -- properties ---------------------------------------------------------------------

_FRAGMENTS = [
    "password", "PWD", "token", "secret", "api_key", "Authorization", "bearer", "Cookie",
    "identified by", "://", "@", "/", ":", "=", " ", "\t", "'", '"', "\\", "{", "}", "&",
    ";", "\n", "****", "u", "s3cr3t", "\u0130", "basic ",
]  # fmt: skip
_texts = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=3), max_size=12).map("".join)
_keys = st.sampled_from(
    ["password", "Email", "api-key", "user", "tokens", "db_password", "message", "fields", "x"]
) | st.text(max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_texts)
def test_text_masking_is_idempotent(text: str) -> None:
    """Masking masked text changes nothing."""
    once = mask_secrets_in_text(text)
    assert mask_secrets_in_text(once) == once


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_sanitize_is_idempotent(payload: Any) -> None:
    """sanitize(sanitize(x)) == sanitize(x) for JSON-like payloads."""
    once = sanitize_payload(new_event("test_event", "tests", payload))
    assert sanitize_payload(once).payload == once.payload


@settings(max_examples=50, deadline=None)
@given(_json)
def test_sanitize_never_mutates_its_input(payload: Any) -> None:
    """The payload handed in is identical after sanitizing."""
    before = copy.deepcopy(payload)
    sanitize_payload(new_event("test_event", "tests", payload))
    assert payload == before


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=20))
def test_generated_secrets_never_survive(secret: str) -> None:
    """A secret in a DSN, a header, a query and under a key is absent from the JSON line."""
    secret = "S3C" + secret  # never one of the words around it
    payload = {
        "dsn": f"postgresql://app:{secret}@db/audit",
        "headers": [f"Authorization: Bearer {secret}"],
        "error": f"UPDATE users SET password = '{secret}'",
        "user": {"Password": secret},
    }
    line = sanitize_payload(new_event("test_event", "tests", payload)).to_json()
    assert secret not in line
