"""
Publish's compiled payload work (``audit_logging/_speedups_payload.c``) against the reference.

``payload_clean`` must agree with ``sanitize._is_clean`` whenever it answers (None hands
the payload to Python), and ``copy_and_size`` must give what ``history._copy_and_size``
gives: an equal copy sharing no container with the original, and the same size. Hypothesis
generates payloads of every shape the two see: keys with and without redaction rules,
text that trips each gate (card numbers, JWTs, PEM dashes, separators and keywords,
non-ASCII letters whose lower case is ASCII), (name, value) pairs, bytes keys, tuples,
objects. The suite also runs on the pure path (``AUDIT_LOGGING_PURE=1``), where these skip.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_logging import _accel
from audit_logging._engine import history
from audit_logging._security import sanitize
from audit_logging._security.keyrules import keep_value, protect, rules_for
from audit_logging._security.textmask import CARD_MIN

accelerator = _accel.accelerator
pytestmark = pytest.mark.skipif(
    accelerator is None,
    reason="the accelerator is not built here (no C compiler at install) "
    "or AUDIT_LOGGING_PURE is set",
)
SETTINGS = settings(max_examples=400, derandomize=True, deadline=None)

keys = st.sampled_from(
    ["user_id", "username", "password", "Passwords", "api_key", "token", "x-auth", "ok",
     "email", "kid", "card", "note", "Cookie", "session_id", "msg", "path"]
) | st.text(max_size=8)  # fmt: skip
fragments = st.sampled_from(
    ["", "a", "hello world", "u42", "4111 1111 1111 1111", "4111-1111-1111-1111",
     "1234567890123", "12 34", "eyJhbGciOi", "-----BEGIN", "----", "k=v", "a:b", "x\ty",
     "PASSWORD", "Token", "http://u:p@h/", "\u212aey=1", "caf\u00e9 key", "sig", "mysql -p",
     "Bearer abc", "\u00e9\u00e9\u00e9\u00e9\u00e9", "日本語 テキスト"]
)  # fmt: skip
texts = st.lists(fragments, max_size=4).map("".join) | st.text(max_size=30)
leaves = st.none() | st.booleans() | st.integers() | st.floats() | texts | st.binary(max_size=4)


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


payloads = st.recursive(
    leaves | st.just(Opaque()),
    lambda inner: (
        st.dictionaries(keys, inner, max_size=5)
        | st.dictionaries(st.binary(max_size=4), inner, max_size=2)
        | st.lists(inner, max_size=4)
        | st.tuples(keys, inner)
        | st.tuples(inner, inner, inner)
    ),
    max_leaves=20,
)


def _compiled_clean(payload: Any) -> bool | None:
    rules = rules_for(None)
    assert accelerator is not None
    return accelerator.payload_clean(  # type: ignore[no-any-return]
        payload, rules, keep_value, protect, sanitize._FAST_DEPTH, CARD_MIN
    )


@SETTINGS
@given(payloads)
def test_payload_clean_agrees_with_the_reference_when_it_answers(payload: Any) -> None:
    verdict = _compiled_clean(payload)
    if verdict is not None:
        assert verdict == sanitize._is_clean(payload, rules_for(None), 0)


@SETTINGS
@given(st.dictionaries(keys, st.none() | st.integers() | texts, max_size=6))
def test_plain_payloads_are_decided_in_c(payload: dict[str, Any]) -> None:
    verdict = _compiled_clean(payload)
    reference = sanitize._is_clean(payload, rules_for(None), 0)
    ascii_text = all(not isinstance(v, str) or v.isascii() for v in payload.values())
    if ascii_text:
        assert verdict == reference  # the common case never goes back to Python
    elif verdict is not None:
        assert verdict == reference


def test_each_gate_is_seen() -> None:
    for dirty in (
        {"n": "4111 1111 1111 1111"},
        {"n": "x eyJhbGciOiJIUzI1NiJ9"},
        {"n": "-----BEGIN KEY-----"},
        {"n": "see token=abc"},
        {"password": "hunter2"},
        [("Cookie", "sid=1")],
        {"deep": [[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]},
    ):
        assert _compiled_clean(dirty) is False, dirty
        assert sanitize._is_clean(dirty, rules_for(None), 0) is False
    for clean in ({"user_id": "u42", "ok": True, "n": 1.5}, ["a", "b", "c"], "short", None):
        assert _compiled_clean(clean) is True, clean
    assert _compiled_clean({"n": "\u212aey=1"}) is None  # lower() of K (Kelvin) is ASCII k
    assert _compiled_clean({b"password": "x"}) is None  # bytes keys: Python's _key_rule


def test_a_rule_that_raises_propagates_like_python() -> None:
    class Rules(dict[str, Any]):
        patterns = ()

        def __missing__(self, key: str) -> Any:
            raise RuntimeError("no rules today")

    assert accelerator is not None
    with pytest.raises(RuntimeError, match="no rules today"):
        accelerator.payload_clean({"a": 1}, Rules(), keep_value, protect, 16, CARD_MIN)


def _containers(obj: Any) -> list[int]:
    if isinstance(obj, dict):
        return [id(obj)] + [i for v in obj.values() for i in _containers(v)]
    if isinstance(obj, list):
        return [id(obj)] + [i for v in obj for i in _containers(v)]
    return []


@SETTINGS
@given(payloads)
def test_copy_and_size_is_the_reference_walk(payload: Any) -> None:
    unknown = history._UNKNOWN
    assert accelerator is not None
    copy, size = accelerator.copy_and_size(payload, unknown, history._FAST_DEPTH)
    ref_copy, ref_size = history._copy_and_size(payload, 0)
    assert size == ref_size
    if size < 0:
        assert copy is unknown
        assert ref_copy is unknown
        return
    assert copy == ref_copy or copy != copy  # NaN inside compares unequal to itself
    assert not set(_containers(copy)) & set(_containers(payload))  # nothing shared


def test_copy_and_size_of_deep_and_odd_payloads() -> None:
    unknown = history._UNKNOWN
    assert accelerator is not None
    deep: Any = "x"
    for _ in range(history._FAST_DEPTH):
        deep = [deep]
    copy, size = accelerator.copy_and_size(deep, unknown, history._FAST_DEPTH)
    assert (copy, size) == history._copy_and_size(deep, 0)
    assert size > 0  # a string at the depth cap is still plain data
    assert accelerator.copy_and_size([deep], unknown, history._FAST_DEPTH) == (unknown, -1)
    assert history._copy_and_size([deep], 0) == (unknown, -1)
    assert accelerator.copy_and_size({1: "a"}, unknown, 8) == (unknown, -1)
    assert accelerator.copy_and_size(("a",), unknown, 8) == (unknown, -1)
    assert accelerator.copy_and_size({"k": "\u00e9t\u00e9"}, unknown, 8) == (
        history._copy_and_size({"k": "\u00e9t\u00e9"}, 0)
    )
