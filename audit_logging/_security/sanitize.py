"""
Redaction of secrets and personal data in event payloads.

The bus runs :func:`sanitize_payload` on every event before history, handlers,
spill and transport, so whatever a payload carries, the secrets in it never
reach an artifact. Two kinds of rule apply, at any depth of dicts (and other
mappings), lists, tuples, named tuples, sets and dataclasses:

**By key.** A value whose key (a dict key, dataclass or named-tuple field name)
names a secret is replaced as a whole; the rules and the registry are in
:mod:`audit_logging._security.keyrules`.

**In text.** Every other string value (the message of an exception object, and
the ``str()`` of any other object the encoder would write as text, and the
event's ``source``) goes through :func:`mask_secrets_in_text`, which masks the
secret part of URL/DSN passwords in every form, ``key=value`` / ``key: value`` /
JSON pairs whose key is secret by the key rules (``SECRET_KEY=``, ``?sig=``,
``X-Amz-Signature=``), ``Authorization``/``Cookie`` headers, bearer tokens, SQL
``IDENTIFIED BY '...'``, PEM private-key bodies, JWT signatures, ``mysql -p...``
and ``sshpass -p ...``, and Luhn-valid card numbers (first six and last four
digits kept at most). Protected identifiers (:data:`PROTECTED_KEYS`, ``*_id``)
and exact AES-GCM envelopes are never altered. A bus's
:class:`~audit_logging._security.policy.RedactionPolicy` adds its own keys and
patterns.

Positional secrets (``VALUES ('a@b', 's3cr3t')``), secrets inside ``bytes``
values and free text naming no key are not found: keep them out of payloads.

Guarantees: the input is never modified; when nothing changes the same object
comes back (so :func:`sanitize_payload` returns the very same event, and the
common case costs a key look-up per field); the result of the defaults is a
fixed point (sanitizing twice gives what sanitizing once gave); the walk is
iterative, so 10,000-deep nesting and reference cycles cannot raise
``RecursionError``. A cycle in a payload that has to change is cut and marked
``"<cycle>"``; a shared sub-tree is sanitized once and stays shared. A value
that raises while being read (a mapping whose ``items()`` raises, a string
subclass whose methods do) cannot be checked, so it is replaced by
``"<unreadable TypeName>"`` (fail closed) and nothing raises into ``publish``.

Rebuilt containers: mappings become ``dict``, lists ``list``, tuples ``tuple``,
named tuples their own class, sets their own type. A dataclass is rebuilt with
:func:`dataclasses.replace` when every changed field keeps its type or becomes a
string where the field's annotation admits ``str``; otherwise (or when
``replace`` refuses) it becomes a ``dict`` of its fields, since a wrongly typed
dataclass would be worse than a plain mapping.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from audit_logging._accel import accelerator as _compiled
from audit_logging._model.encoding import _safe_str
from audit_logging._model.event import Event
from audit_logging._security.containers import (
    kind_of,
    pairs,
    rebuild,
)
from audit_logging._security.crypto import ENCRYPTED_MARKER
from audit_logging._security.keyrules import (
    DEFAULT_SENSITIVE_KEYS,
    PROTECTED_KEYS,
    SENSITIVE_KEY_SUFFIXES,
    Rules,
    keep_value,
    mask_email,
    mask_secret,
    protect,
    register_sanitizer,
    registered_sanitizers,
    rules_for,
    unregister_sanitizer,
)
from audit_logging._security.policy import RedactionPolicy, mask_text, text_clean
from audit_logging._security.textmask import (
    CARD_MIN,
    MASK,
    mask_dsn,
    mask_secrets_in_text,
    text_is_clean,
)
from audit_logging.typing import Sanitizer

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

_log = logging.getLogger("audit_logging")

_CYCLE: Final = "<cycle>"

_FAST_DEPTH = 16
# Leaves the encoder writes without str(), or whose str() is a fixed format that no
# rule can match: no need to look at their text.
_PLAIN_LEAVES = (
    int, float, bool, bytes, bytearray, memoryview, enum.Enum,
    datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, uuid.UUID,
)  # fmt: skip
_ENVELOPE_KEYS = frozenset({ENCRYPTED_MARKER, "alg", "kid", "nonce", "ct"})


def _payload_clean(payload: Any, rules: Rules) -> bool:
    """
    ``_is_clean(payload, rules, 0)``; compiled where built, for rules without extra text
    patterns (the compiled check answers None where it does not decide: Python does).
    """
    if _compiled is not None and not rules.patterns:
        verdict = _compiled.payload_clean(
            payload, rules, keep_value, protect, _FAST_DEPTH, CARD_MIN
        )
        if verdict is not None:
            return bool(verdict)
    return _is_clean(payload, rules, 0)


def _key_rule(rules: Rules, key: object) -> Sanitizer | None:
    """
    The rule for a key: str keys as they are, bytes keys (ASGI headers) decoded.
    """
    if isinstance(key, str):
        return rules[key]
    if isinstance(key, bytes):
        return rules[key.decode("latin-1")]
    return None


def _is_envelope(payload: object) -> bool:
    """
    True for an AES-GCM envelope exactly as :func:`encrypt_event` makes it.

    Its ciphertext cannot hold clear text and its key id is bound into the
    associated data (masking it would make the event undecryptable), so it
    passes untouched. Only an exact envelope: extra keys beside the marker
    are walked as any payload.
    """
    return (
        type(payload) is dict
        and ENCRYPTED_MARKER in payload
        and payload.keys() == _ENVELOPE_KEYS
        and all(type(v) is str or type(v) is int for v in payload.values())
    )


def _apply(fn: Sanitizer, key: str, value: Any) -> Any:
    try:
        return fn(key, value)
    except Exception as exc:
        _log.error("sanitizer for key %r raised %s; value masked", key, type(exc).__name__)
        return MASK


def _mask_leaf(value: Any, patterns: tuple[re.Pattern[str], ...] = ()) -> Any:
    """
    A non-container value with its text secrets masked (the value itself if none).
    """
    if isinstance(value, str):
        masked = mask_text(value, patterns)
        return value if masked == value else masked
    if value is None or isinstance(value, _PLAIN_LEAVES):
        return value
    if isinstance(value, BaseException):
        # The encoder would print "Type: message"; print it masked instead.
        message = _safe_str(value)
        masked = mask_text(message, patterns)
        if masked != message:
            return f"{type(value).__name__}: {masked}"
        return value
    # Anything else is written as its str(): check that text, and write it masked.
    text = _safe_str(value)
    masked = mask_text(text, patterns)
    return value if masked == text else masked


def _unreadable(value: Any) -> str:
    """
    The marker for a value that raised while being read: it cannot be checked for
    secrets, so it is not passed on (fail closed), and nothing raises into publish.
    """
    return f"<unreadable {type(value).__name__}>"


def _safe_leaf(value: Any, patterns: tuple[re.Pattern[str], ...]) -> Any:
    try:
        return _mask_leaf(value, patterns)
    except Exception:  # e.g. a str subclass whose methods raise
        return _unreadable(value)


def _is_clean(value: Any, rules: Rules, depth: int) -> bool:
    """
    True when sanitizing ``value`` would change nothing (False when unsure).

    The fast path, run on every publish: recursive but depth-capped, so deep or
    cyclic payloads are simply handed to the iterative walk. Plain dicts and
    lists, the common payloads, are checked inline.
    """
    t = type(value)
    patterns = rules.patterns
    if t is str:
        return text_clean(value, patterns) if patterns else text_is_clean(value)
    if t is dict:
        if depth >= _FAST_DEPTH:
            return False
        for key, child in value.items():
            fn = rules[key] if type(key) is str else _key_rule(rules, key)
            if fn is not None:
                if fn is keep_value or (fn is protect and type(child) is str):
                    continue
                if fn is not protect:
                    return False
            if type(child) is str:
                if patterns:
                    if not text_clean(child, patterns):
                        return False
                elif len(child) >= 5 and not text_is_clean(child):
                    return False
            elif not _is_clean(child, rules, depth + 1):
                return False
        return True
    if t is int or t is float or t is bool or value is None:
        return True
    if t is list or t is tuple:
        if depth >= _FAST_DEPTH:
            return False
        if len(value) == 2 and _key_rule(rules, value[0]) is not None:
            return False  # a (name, value) pair with a rule: the walk decides
        return all(_is_clean(child, rules, depth + 1) for child in value)
    kind = kind_of(value)
    if kind is None:
        return _mask_leaf(value, patterns) is value
    if depth >= _FAST_DEPTH:
        return False
    for key, child in pairs(value, kind):
        if _key_rule(rules, key) is not None:
            return False
        if not _is_clean(child, rules, depth + 1):
            return False
    return True


class _Frame:
    __slots__ = ("changed", "index", "kind", "obj", "out", "pairs")

    def __init__(self, obj: Any, kind: int) -> None:
        self.obj = obj
        self.kind = kind
        self.pairs = pairs(obj, kind)
        self.index = 0
        self.out: list[Any] = []
        self.changed = False


def _walk(root: Any, rules: Rules, *, mark_cycles: bool) -> tuple[Any, bool]:
    """
    Sanitize ``root`` without recursion; return (result, whether a cycle was met).

    With ``mark_cycles`` False a back reference is kept as it is, which is right
    only if its target ends up unchanged; the caller walks again with
    ``mark_cycles`` True when the result changed and a cycle was met.
    """
    kind = kind_of(root)
    if kind is None:
        return _safe_leaf(root, rules.patterns), False
    try:
        stack = [_Frame(root, kind)]
    except Exception:
        return _unreadable(root), False
    memo: dict[int, tuple[Any, Any]] = {}
    on_path: set[int] = {id(root)}
    saw_cycle = False
    while True:
        frame = stack[-1]
        if frame.index < len(frame.pairs):
            key, child = frame.pairs[frame.index]
            frame.index += 1
            fn = _key_rule(rules, key) if key is not None else None
            if fn is protect:
                # An identifier: a string is kept as it is, anything else walked.
                fn = keep_value if type(child) is str else None
            if fn is keep_value:
                new = child
            elif fn is not None:
                new = _apply(fn, key, child)
                if type(new) is str and type(child) is str and new == child:
                    new = child  # already masked: keep the original, avoid a copy
            else:
                child_kind = kind_of(child)
                if child_kind is None:
                    new = _safe_leaf(child, rules.patterns)
                else:
                    seen = memo.get(id(child))
                    if seen is not None and seen[0] is child:
                        new = seen[1]
                    elif id(child) in on_path:
                        saw_cycle = True
                        new = _CYCLE if mark_cycles else child
                    else:
                        try:
                            child_frame = _Frame(child, child_kind)
                        except Exception:
                            new = _unreadable(child)
                        else:
                            on_path.add(id(child))
                            stack.append(child_frame)
                            continue
            frame.out.append(new)
            if new is not child:
                frame.changed = True
            continue
        stack.pop()
        obj = frame.obj
        on_path.discard(id(obj))
        result = rebuild(obj, frame.kind, frame.pairs, frame.out) if frame.changed else obj
        memo[id(obj)] = (obj, result)
        if not stack:
            return result, saw_cycle
        parent = stack[-1]
        parent.out.append(result)
        if result is not obj:
            parent.changed = True


def _sanitize_value(value: Any, rules: Rules) -> Any:
    result, saw_cycle = _walk(value, rules, mark_cycles=False)
    if saw_cycle and result is not value:
        result, _ = _walk(value, rules, mark_cycles=True)
    return result


def sanitize_payload(
    evt: Event[Any],
    sanitizers: Mapping[str, Sanitizer] | None = None,
    *,
    policy: RedactionPolicy | None = None,
) -> Event[Any]:
    """
    Return ``evt`` with its payload redacted.

    Runs on every publish, so the common case (nothing to redact) is a key
    look-up and a few substring tests per field and returns ``evt`` itself; when
    something is redacted a new event is returned and ``evt`` is untouched.
    ``sanitizers`` adds per-call rules (normalised key -> ``(key, value) -> value``)
    on top of the registered and default ones; it cannot switch a default off.
    ``policy`` is a bus's own rules (:class:`RedactionPolicy`), which can; the
    two are not combined (``policy`` wins).

    Raises:
        TypeError: a key in ``sanitizers`` is not a string.
        ValueError: a key in ``sanitizers`` is empty after normalisation.
    """
    rules = policy.rules() if policy else rules_for(sanitizers)
    source = evt.source
    patterns = rules.patterns
    if source and not (text_clean(source, patterns) if patterns else text_is_clean(source)):
        masked = mask_text(source, patterns)
        if masked != source:
            evt = dataclasses.replace(evt, source=masked)
    payload = evt.payload
    if payload is None or (
        type(payload) is dict and ENCRYPTED_MARKER in payload and _is_envelope(payload)
    ):
        return evt
    try:
        clean = _payload_clean(payload, rules)
    except Exception:  # a container or leaf that raises when read: the walk marks it
        clean = False
    if clean:
        return evt
    new = _sanitize_value(payload, rules)
    if new is payload:
        return evt
    return dataclasses.replace(evt, payload=new)
