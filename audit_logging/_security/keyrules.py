"""
Which payload keys name a secret, and what replaces their values.

**By key.** A value whose key (a dict key, dataclass or named-tuple field name)
names a secret is replaced as a whole. Keys are matched after normalisation:
lower-cased, with ``-``, ``_``, ``.`` and spaces removed, so ``Password``,
``API-Key``, ``apiKey`` and ``api_key`` are the same key. The defaults:

- an e-mail key (``email``, or any key ending in ``email`` such as
  ``user_email``) keeps the first character and the domain: ``"u****@example.com"``;
  a value without ``@`` (or not a string) becomes ``"****"``;
- a key in :data:`DEFAULT_SENSITIVE_KEYS`, or ending in one of
  :data:`SENSITIVE_KEY_SUFFIXES` (``db_password``, ``csrfToken``, ``aws_secret_access_key``),
  becomes ``"****"``, whatever the value (containers included).

Keys that merely *contain* a word are left alone (``token_id``, ``max_tokens``,
``password_changed_at``), and the generic ``*_key`` names are not secret
(``cache_key``, ``partition_key``, ``idempotency_key`` are identifiers an audit
trail needs); only the key kinds named in the suffix list are. Callers add
rules with :func:`register_sanitizer` (process-wide) or the ``sanitizers``
argument (one call); both match the normalised key exactly and win over the
defaults for that key, and a per-call rule wins over a registered one.

The decisions are cached per key (a dict look-up on the hot path); registering
a rule replaces the cache whole, so readers never need a lock.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Mapping
from typing import Any, Final

from audit_logging._security.textmask import MASK
from audit_logging.typing import Sanitizer

__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "SENSITIVE_KEY_SUFFIXES",
    "decider",
    "mask_email",
    "mask_secret",
    "register_sanitizer",
    "registered_sanitizers",
    "unregister_sanitizer",
]

_KEY_DROP = str.maketrans("", "", "-_. \t")
_CACHE_MAX = 4096
_CACHE_KEY_MAX = 256

DEFAULT_SENSITIVE_KEYS: Final = frozenset(
    {
        "password", "passwd", "pwd", "passphrase", "passcode", "pin", "otp",
        "secret", "clientsecret", "apisecret",
        "token", "accesstoken", "refreshtoken", "idtoken", "authtoken", "bearertoken",
        "apikey", "xapikey", "privatekey", "secretkey", "sessionkey",
        "authorization", "proxyauthorization", "auth",
        "cookie", "setcookie", "session", "sessionid",
        "credentials", "credential",
        "creditcard", "creditcardnumber", "cardnumber", "cvv", "cvv2", "cvc", "ssn",
    }
)  # fmt: skip
"""Normalised keys (lower case, no ``-``, ``_``, ``.`` or spaces) whose values become ``****``."""

SENSITIVE_KEY_SUFFIXES: Final = (
    "password", "passwd", "passphrase", "passcode", "secret", "token",
    "apikey", "privatekey", "secretkey", "accesskey", "signingkey", "encryptionkey",
    "credentials", "cookie", "sessionid",
)  # fmt: skip
"""A normalised key ending in one of these is sensitive too (``db_password``, ``csrfToken``)."""


def mask_email(key: str, value: Any) -> Any:
    """
    Sanitizer keeping an e-mail's first character and domain: ``"u****@example.com"``.

    A value without ``@`` or not a string becomes ``"****"``.
    """
    if isinstance(value, str):
        local, at, domain = value.rpartition("@")
        if at:
            first = local[:1]
            if first == "*":  # already masked with an empty local part
                first = ""
            return f"{first}{MASK}@{domain}"
    return MASK


def mask_secret(key: str, value: Any) -> Any:
    """
    Sanitizer replacing any value by ``"****"``.
    """
    return MASK


def _normalise(key: str) -> str:
    return key.lower().translate(_KEY_DROP)


def _default_rule(norm: str) -> Sanitizer | None:
    if norm.endswith("email") or norm == "emailaddress":
        return mask_email
    if norm in DEFAULT_SENSITIVE_KEYS or norm.endswith(SENSITIVE_KEY_SUFFIXES):
        return mask_secret
    return None


class _Decisions(dict[str, "Sanitizer | None"]):
    """
    Key -> sanitizer (or None) for one set of rules, filled on first sight of a key.

    A dict subclass so that a known key costs one C-level look-up on the hot
    path; ``__missing__`` decides new keys. Capped in number and key length, as
    keys may come from untrusted input. Registration replaces the process-wide
    instance whole, so a reader never mixes a stale decision with a new registry
    and needs no lock.
    """

    __slots__ = ("extra", "registered")

    def __init__(
        self, registered: Mapping[str, Sanitizer], extra: Mapping[str, Sanitizer] | None = None
    ) -> None:
        super().__init__()
        self.registered = registered
        self.extra = extra

    def __missing__(self, key: str) -> Sanitizer | None:
        norm = _normalise(key)
        fn = (self.extra and self.extra.get(norm)) or self.registered.get(norm)
        fn = fn or _default_rule(norm)
        if len(self) < _CACHE_MAX and len(key) <= _CACHE_KEY_MAX:
            self[key] = fn
        return fn


_rules = _Decisions({})
"""The registered sanitizers and their decisions; replaced whole on every registration."""
_rules_lock = threading.Lock()


def _check_key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"sanitizer key must be a str, not {type(key).__name__}")
    norm = _normalise(key)
    if not norm:
        raise ValueError("sanitizer key must not be empty")
    return norm


def register_sanitizer(key: str, fn: Sanitizer) -> None:
    """
    Register ``fn`` for every payload key matching ``key``.

    Matching is on the normalised key (lower-cased, ``-``, ``_``, ``.`` and spaces removed), so
    ``register_sanitizer("X-Api-Key", f)`` also covers ``x_api_key``. A later
    registration for the same key replaces the earlier one, and a registration
    overrides the default rule for that exact key. Thread-safe. The value ``fn``
    returns is used as it is (not walked again); if ``fn`` raises, the value is
    masked as ``"****"`` and the error logged, so a buggy sanitizer fails closed.

    Raises:
        TypeError: ``key`` is not a string or ``fn`` is not callable.
        ValueError: ``key`` is empty after normalisation.
    """
    global _rules
    norm = _check_key(key)
    if not callable(fn):
        raise TypeError(f"sanitizer must be callable, not {type(fn).__name__}")
    with _rules_lock:
        _rules = _Decisions({**_rules.registered, norm: fn})


def unregister_sanitizer(key: str) -> bool:
    """
    Remove the sanitizer registered for ``key``; the default rule applies again.

    Returns:
        False if none was registered for that key.
    """
    global _rules
    norm = _check_key(key)
    with _rules_lock:
        if norm not in _rules.registered:
            return False
        registered = dict(_rules.registered)
        del registered[norm]
        _rules = _Decisions(registered)
    return True


def registered_sanitizers() -> Mapping[str, Sanitizer]:
    """
    The registered sanitizers by normalised key (a read-only snapshot).
    """
    return types.MappingProxyType(dict(_rules.registered))


def decider(sanitizers: Mapping[str, Sanitizer] | None) -> Callable[[str], Sanitizer | None]:
    rules = _rules  # one snapshot for the whole call
    if not sanitizers:
        return rules.__getitem__
    extra = {_check_key(k): fn for k, fn in sanitizers.items()}
    return _Decisions(rules.registered, extra).__getitem__
