"""
The demo's verifiable trail: its checkpoint key, its sinks with integrity on.

The demo seals what it stores by default. Its Ed25519 key is generated into the
demo directory on the first run (``checkpoint.key``, mode 0600, and the public
``checkpoint.key.pub``) and reused by later runs, so every run's stream verifies
with the same public key::

    audit-logging verify --file audit-demo/audit.jsonl --keys audit-demo/checkpoint.key.pub
    audit-logging verify --db sqlite:///audit-demo/audit.db --keys audit-demo/checkpoint.key.pub

Keeping the private key next to the data is what a demo may do and production must
not (see "Proving the trail" in the README).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from audit_logging._engine.bus import Bus
from audit_logging._integrity import SigningKey, generate_signing_key, load_signing_key
from audit_logging._model.event import EVENT_ANY

__all__ = ["KEY_FILE", "demo_key", "open_sinks"]

KEY_FILE = "checkpoint.key"


def demo_key(directory: str) -> tuple[SigningKey, str]:
    """
    The demo's signer key (made on the first run) and the path of its public key file.
    """
    path = os.path.join(directory, KEY_FILE)
    public = path + ".pub"
    if os.path.exists(path):
        key = load_signing_key(path)
        assert key is not None
    else:
        key = generate_signing_key("audit-demo")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key.encode() + "\n")
    if not os.path.exists(public):
        with open(public, "w", encoding="utf-8") as fh:
            fh.write(key.verifier.encode() + "\n")
    return key, public


def open_sinks(
    bus: Bus, engine: Any, file_path: str, key: SigningKey | None
) -> list[Callable[[], None]]:
    """
    Subscribe the demo's file and database sinks (named ``file`` and ``database``).
    """
    from audit_logging._sinks.database import DatabaseHandler
    from audit_logging._sinks.file import RotatingJSONFileHandler

    integrity = False if key is None else {"checkpoint_interval": 2.0}
    file_sink = RotatingJSONFileHandler(
        file_path, flush_interval=1.0, integrity=integrity, integrity_key=key
    )
    sinks: list[Any] = [file_sink]
    try:
        sinks.append(
            DatabaseHandler(
                engine,
                batch_size=500,
                flush_interval=1.0,
                integrity=integrity,
                integrity_key=key,
            )
        )
    except BaseException:
        file_sink.close()
        raise
    closers: list[Callable[[], None]] = []
    for sink, name in zip(sinks, ("file", "database"), strict=True):
        sub = bus.subscribe(EVENT_ANY, sink, name=name)

        def close(sub: Any = sub, sink: Any = sink) -> None:
            sub.unsubscribe()
            sink.close()

        closers.append(close)
    return closers
