"""
The sinks' integrity options, resolved once at construction.

Every sink takes the same two keyword options, plain values ``dictConfig`` can
express:

- ``integrity``: None (the default) turns it on when ``AUDIT_INTEGRITY_KEY`` or
  ``AUDIT_INTEGRITY_KEY_FILE`` is set; False turns it off; True turns it on (a key is
  then required); a dict turns it on with options: ``checkpoints`` (the checkpoint
  file, table or topic; default next to the trail), ``checkpoint_every`` (records,
  default 1000), ``checkpoint_interval`` (seconds, default 10), ``log_name`` (the
  origin prefix, default ``audit-logging``) and ``on_checkpoint`` (a callable given
  each signed note, e.g. to send it to a witness or object storage);
- ``integrity_key``: the Ed25519 signer key (its ``PRIVATE+KEY+...`` text, a file
  holding it, or a ``SigningKey``); giving one implies ``integrity``.

Off, a sink's output is byte for byte what it was without this feature.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from audit_logging._integrity.chain import (
    DEFAULT_EVERY,
    DEFAULT_INTERVAL,
    DEFAULT_LOG_NAME,
    Chain,
    CheckpointStore,
)
from audit_logging._integrity.keys import SigningKey, load_signing_key

__all__ = ["IntegrityOption", "IntegritySettings", "resolve_integrity"]

IntegrityOption = bool | Mapping[str, Any] | None
"""What a sink's ``integrity=`` accepts."""

_OPTIONS = frozenset(
    {"checkpoints", "checkpoint_every", "checkpoint_interval", "log_name", "on_checkpoint"}
)


@dataclass(frozen=True, slots=True)
class IntegritySettings:
    """
    How a sink seals its records (the key is shown by name only).
    """

    key: SigningKey
    checkpoints: Any = None
    """Where the checkpoints go (a path, table or topic name; None: the sink's default)."""
    every: int = DEFAULT_EVERY
    interval: float = DEFAULT_INTERVAL
    log_name: str = DEFAULT_LOG_NAME
    on_checkpoint: Callable[[str], object] | None = None

    def chain(self, store: CheckpointStore) -> Chain:
        """
        A new stream writing its checkpoints to ``store``.
        """
        return Chain(
            self.key,
            store,
            every=self.every,
            interval=self.interval,
            log_name=self.log_name,
            on_checkpoint=self.on_checkpoint,
        )


def resolve_integrity(
    integrity: IntegrityOption,
    key: SigningKey | str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> IntegritySettings | None:
    """
    The settings a sink's options ask for, or None when integrity is off (a key implies on).

    Raises:
        ValueError: integrity is requested without a key, or an option is invalid.
    """
    if integrity is False:
        return None
    if integrity is None and key is not None:
        integrity = True  # a key given to a sink is a request to seal
    options: Mapping[str, Any] = integrity if isinstance(integrity, Mapping) else {}
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        known = ", ".join(sorted(_OPTIONS))
        raise ValueError(f"unknown integrity option(s) {', '.join(unknown)}; known: {known}")
    signing_key = load_signing_key(key, environ)
    if signing_key is None:
        if integrity is not None:
            raise ValueError(
                "integrity needs a signer key: pass integrity_key= or set AUDIT_INTEGRITY_KEY "
                "(make one with `audit-logging keygen`)"
            )
        return None
    every = int(options.get("checkpoint_every", DEFAULT_EVERY))
    interval = float(options.get("checkpoint_interval", DEFAULT_INTERVAL))
    if every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, not {every!r}")
    if interval < 0:
        raise ValueError(f"checkpoint_interval must be >= 0, not {interval!r}")
    callback = options.get("on_checkpoint")
    if callback is not None and not callable(callback):
        raise ValueError("on_checkpoint must be callable")
    return IntegritySettings(
        signing_key,
        options.get("checkpoints"),
        every,
        interval,
        str(options.get("log_name", DEFAULT_LOG_NAME)),
        callback,
    )
