"""
Which payload keys name a secret, and what replaces their values.

**By key.** A value whose key (a dict key, dataclass or named-tuple field name,
the first item of a ``(name, value)`` pair, a ``bytes`` key decoded) names a
secret is replaced as a whole. Keys are matched after normalisation:
lower-cased, with ``-``, ``_``, ``.`` and spaces removed, so ``Password``,
``API-Key``, ``apiKey`` and ``api_key`` are the same key; the plural of a
listed name (``passwords``, ``tokens``, ``cookies``, ``api_keys``; not of a
suffix, so ``max_tokens`` stays a count) is that name, and an
``X-``/``x_`` header prefix is dropped (``X-Api-Key``). The same rules decide
the ``key=value`` pairs found in text. The defaults:

- an e-mail key (``email``, or any key ending in ``email`` such as
  ``user_email``) keeps the first character and the domain: ``"u****@example.com"``;
  a value without ``@`` (or not a string) becomes ``"****"``;
- a key in :data:`DEFAULT_SENSITIVE_KEYS`, or ending in one of
  :data:`SENSITIVE_KEY_SUFFIXES` (``db_password``, ``csrfToken``, ``aws_secret_access_key``),
  becomes ``"****"``, whatever the value (containers included).

Keys that merely *contain* a word are left alone (``token_id``, ``max_tokens``,
``password_changed_at``), and the generic ``*_key`` names are not secret
(``cache_key``, ``partition_key``, ``idempotency_key`` are identifiers an audit
trail needs); only the key kinds named in the suffix list are, and ``key``
alone.

**Protected identifiers.** Keys that identify someone or something --
:data:`PROTECTED_KEYS` (``user_id``, ``username``, ``kid``...) and any key
spelled as an id (``record_id``, ``orderId``, ``ID``) -- are never masked by the
*text* rules: a numeric user id that happens to pass the Luhn check, or a key
id such as ``"secret:v1"``, would otherwise be altered, and the trail would no
longer say who acted, or (for an encrypted envelope's ``kid``, which is bound
into the ciphertext's associated data) could no longer be decrypted. Only
string values are protected: a container under such a key is still walked.
A key rule (``session_id``) wins over protection. Callers add
rules with :func:`register_sanitizer` (process-wide) or the ``sanitizers``
argument (one call); both match the normalised key exactly and win over the
defaults for that key, and a per-call rule wins over a registered one.

The decisions are cached per key (a dict look-up on the hot path); registering
a rule replaces the cache whole, so readers never need a lock.
"""

from __future__ import annotations

import re
import threading
import types
from collections.abc import Mapping
from typing import Any, Final

from audit_logging.typing import Sanitizer

__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "MASK",
    "PROTECTED_KEYS",
    "SENSITIVE_KEY_SUFFIXES",
    "Rules",
    "current_rules",
    "is_protected",
    "is_secret_key",
    "keep_value",
    "mask_email",
    "mask_secret",
    "normalised",
    "protect",
    "register_sanitizer",
    "registered_sanitizers",
    "rules_for",
    "unregister_sanitizer",
]

MASK: Final = "****"
"""What a masked value (or the masked part of a string) becomes."""

_KEY_DROP = str.maketrans("", "", "-_. \t")
_ID_SPELLING = re.compile(r"(?:^|[-_. ])(?:id|ID|Id)$|[a-z0-9]Id$|[a-z0-9]ID$")
_CACHE_MAX = 4096
_CACHE_KEY_MAX = 256

DEFAULT_SENSITIVE_KEYS: Final = frozenset(
    {
        "password", "passwd", "pwd", "passphrase", "passcode", "pin", "otp",
        "pass", "pw", "passwordhash", "pwhash", "passwordsalt",
        "secret", "clientsecret", "apisecret",
        "token", "accesstoken", "refreshtoken", "idtoken", "authtoken", "bearertoken", "jwt",
        "apikey", "xapikey", "privatekey", "secretkey", "sessionkey", "key",
        "authorization", "proxyauthorization", "auth",
        "cookie", "setcookie", "session", "sessionid", "sessid", "phpsessid",
        "credentials", "credential",
        "sig", "signature",
        "creditcard", "creditcardnumber", "cardnumber", "pan", "cvv", "cvv2", "cvc", "ssn",
    }
)  # fmt: skip
"""Normalised keys (lower case, no ``-``, ``_``, ``.`` or spaces) whose values become ``****``."""

SENSITIVE_KEY_SUFFIXES: Final = (
    "password", "passwd", "passphrase", "passcode", "secret", "token",
    "apikey", "privatekey", "secretkey", "accesskey", "signingkey", "encryptionkey",
    "credentials", "credential", "cookie", "sessionid", "signature", "passwordhash",
)  # fmt: skip
"""A normalised key ending in one of these is sensitive too (``db_password``, ``csrfToken``)."""

PROTECTED_KEYS: Final = frozenset(
    {
        "id", "kid", "keyid", "userid", "username", "user", "login", "actor", "actorid",
        "accountid", "principal", "subject", "recordid", "eventid", "contextid", "traceid",
        "spanid", "requestid", "tokenid",
    }
)  # fmt: skip
"""Normalised keys whose string values the text rules never alter (identifiers; see above)."""


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


def keep_value(key: str, value: Any) -> Any:
    """
    Sanitizer keeping the value as it is: register it to switch a default rule off.

    ``register_sanitizer("pin", keep_value)`` lets a ``pin`` field (a branch's PIN
    code, say, that is no secret) through; the value is not walked or text-masked.
    """
    return value


def protect(key: str, value: Any) -> Any:
    """
    The marker rule of a protected identifier (see the module docstring).

    Never applied as a sanitizer: the walk keeps a string under such a key as it
    is and walks anything else as if the key had no rule.
    """
    return value


def _normalise(key: str) -> str:
    return key.lower().translate(_KEY_DROP)


def _secret_norm(norm: str) -> bool:
    if norm in DEFAULT_SENSITIVE_KEYS or norm.endswith(SENSITIVE_KEY_SUFFIXES):
        return True
    # Plurals of the exact names: passwords, tokens, secrets, cookies, api_keys, passes.
    # Not of the suffixes: max_tokens, prompt_tokens are counts, not secrets.
    if len(norm) > 3 and norm.endswith("s"):
        single = norm[:-2] if norm.endswith(("sses", "ches")) else norm[:-1]
        return single in DEFAULT_SENSITIVE_KEYS
    return False


def _default_rule(key: str, norm: str) -> Sanitizer | None:
    if norm.endswith("email") or norm == "emailaddress":
        return mask_email
    if _secret_norm(norm):
        return mask_secret
    if key[:2].lower() in ("x-", "x_") and _secret_norm(norm[1:]):  # X-Api-Key, x_auth_token
        return mask_secret
    if norm in PROTECTED_KEYS or _ID_SPELLING.search(key):
        return protect
    return None


class Rules(dict[str, "Sanitizer | None"]):
    """
    Key -> sanitizer (or None) for one set of rules, filled on first sight of a key,
    plus the extra text ``patterns`` of a bus's redaction policy.

    A dict subclass so that a known key costs one C-level look-up on the hot
    path; ``__missing__`` decides new keys. Capped in number and key length, as
    keys may come from untrusted input. Registration replaces the process-wide
    instance whole, so a reader never mixes a stale decision with a new registry
    and needs no lock.
    """

    __slots__ = ("extra", "patterns", "registered")

    def __init__(
        self,
        registered: Mapping[str, Sanitizer],
        extra: Mapping[str, Sanitizer] | None = None,
        patterns: tuple[re.Pattern[str], ...] = (),
    ) -> None:
        super().__init__()
        self.registered = registered
        self.extra = extra
        self.patterns = patterns

    def __missing__(self, key: str) -> Sanitizer | None:
        norm = _normalise(key)
        fn = (self.extra and self.extra.get(norm)) or self.registered.get(norm)
        fn = fn or _default_rule(key, norm)
        if len(self) < _CACHE_MAX and len(key) <= _CACHE_KEY_MAX:
            self[key] = fn
        return fn


_rules = Rules({})
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
        _rules = Rules({**_rules.registered, norm: fn})


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
        _rules = Rules(registered)
    return True


def registered_sanitizers() -> Mapping[str, Sanitizer]:
    """
    The registered sanitizers by normalised key (a read-only snapshot).
    """
    return types.MappingProxyType(dict(_rules.registered))


def is_secret_key(key: str) -> bool:
    """
    True when the current rules mask a value under ``key`` (a registered rule included).
    """
    fn = _rules[key]
    return fn is not None and fn is not protect and fn is not keep_value


def is_protected(key: str) -> bool:
    """
    True when ``key`` names an identifier the text rules leave alone.
    """
    return _rules[key] is protect


def current_rules() -> Rules:
    """
    The process-wide rules (registered sanitizers over the defaults), one snapshot.
    """
    return _rules


def rules_for(sanitizers: Mapping[str, Sanitizer] | None) -> Rules:
    """
    The current rules with per-call ``sanitizers`` on top (normalised keys).

    Raises:
        TypeError: a key is not a string.
        ValueError: a key is empty after normalisation.
    """
    rules = _rules  # one snapshot for the whole call
    if not sanitizers:
        return rules
    extra = {_check_key(k): fn for k, fn in sanitizers.items()}
    return Rules(rules.registered, extra)


def normalised(key: str) -> str:
    """
    ``key`` as the rules compare it (checked: a non-empty string).
    """
    return _check_key(key)
