"""
A bus's own redaction rules: keys to mask, keys to keep, text patterns to mask.

The default rules and :func:`~audit_logging._security.keyrules.register_sanitizer`
are process-wide; a :class:`RedactionPolicy` adds rules for one bus, from its
configuration (``Bus(redact_keys=[...], keep_keys=[...], redact_patterns=[...])``,
or the same keys in a ``dictConfig`` ``"bus"`` dict), so a service can say in its
``LOGGING`` settings that ``"iban"`` is secret, that ``"pin"`` (a branch's PIN
code, say) is not, or that its own ``ACME-[0-9A-F]{32}`` API keys are to be masked
wherever they appear in text.

The policy's decisions are cached like the process-wide ones and rebuilt when a
sanitizer is registered, so a configured bus pays the same one dict look-up per
key on the hot path. Patterns are searched in every string (after the built-in
text rules), which costs a regex search per string and pattern: keep them few.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from audit_logging._security.keyrules import (
    MASK,
    Rules,
    current_rules,
    mask_secret,
    normalised,
    protect,
)
from audit_logging._security.textmask import mask_secrets_in_text, text_is_clean
from audit_logging.exceptions import ConfigurationError
from audit_logging.typing import Sanitizer

__all__ = ["RedactionPolicy", "mask_text", "text_clean"]


class RedactionPolicy:
    """
    Rules of one bus on top of the process-wide ones.

    ``mask_keys`` are masked as ``"****"`` (as ``password`` is); ``keep_keys``
    switch the default rule off for those keys (a string is kept as it is, a
    container still walked); each of ``patterns`` (regular expressions) masks
    what it matches in any string. A key given in both is an error.

    Raises:
        ConfigurationError: a key is not a non-empty string, appears in both
            lists, or a pattern does not compile (the option is named).
    """

    __slots__ = ("_base", "_extra", "_rules", "patterns")

    def __init__(
        self,
        mask_keys: Iterable[str] = (),
        keep_keys: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
    ) -> None:
        extra: dict[str, Sanitizer] = {}
        for option, keys, rule in (
            ("redact_keys", mask_keys, mask_secret),
            ("keep_keys", keep_keys, protect),
        ):
            for key in keys:
                try:
                    norm = normalised(key)
                except (TypeError, ValueError) as exc:
                    raise ConfigurationError(option, str(exc)) from None
                if extra.get(norm, rule) is not rule:
                    raise ConfigurationError(option, f"{key!r} is both masked and kept")
                extra[norm] = rule
        compiled = []
        for pattern in patterns:
            try:
                compiled.append(pattern if isinstance(pattern, re.Pattern) else re.compile(pattern))
            except (re.error, TypeError) as exc:
                raise ConfigurationError(
                    "redact_patterns", f"{pattern!r:.60} is not a regular expression: {exc}"
                ) from None
        self._extra = extra
        self.patterns = tuple(compiled)
        self._base: Rules | None = None
        self._rules: Rules | None = None

    def __bool__(self) -> bool:
        return bool(self._extra or self.patterns)

    def rules(self) -> Rules:
        """
        The decisions for this policy, rebuilt only when the process-wide rules change.
        """
        base = current_rules()
        rules = self._rules
        if rules is None or self._base is not base:
            rules = Rules(base.registered, self._extra or None, self.patterns)
            self._rules, self._base = rules, base
        return rules


def mask_text(text: str, patterns: tuple[re.Pattern[str], ...]) -> str:
    """
    The built-in text rules, then a policy's own patterns (each match becomes ``****``).
    """
    masked = mask_secrets_in_text(text)
    for pattern in patterns:
        if pattern.search(masked) is not None:
            masked = pattern.sub(MASK, masked)
    return masked


def text_clean(text: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    """
    True when neither the built-in text rules nor ``patterns`` can match ``text``.
    """
    if not text_is_clean(text):
        return False
    return not patterns or all(pattern.search(text) is None for pattern in patterns)
