"""
The composition root: :class:`LogConfig` and :func:`setup_logging` wire the file
and database sinks onto a bus in one call, as the Go ``SetupLogging`` did.

This is the one core module that knows both the bus and the sinks; the sinks
are imported lazily, so ``import audit_logging`` works without the ``file`` and
``db`` extras.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from audit_logging._model.event import EVENT_ANY

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["LogConfig", "setup_logging"]

_MIB = 1024 * 1024


@dataclasses.dataclass
class LogConfig:
    """
    Settings of the standard sinks.

    Attributes:
        file_path: the JSON-lines file; empty or None = no file sink.
        max_size_mb: rotate the file when it reaches this size.
        max_backups: rotated files to keep; None = keep all (audit data is
            kept by default: PCI DSS 10.5.1 asks for 12 months).
        max_age_days: delete rotated files older than this; None = never.
        compress: gzip rotated files.
        db_batch_size: rows per database transaction.
        flush_interval: seconds between database writes of a partial batch.
        retry_count: database retries before the batch is handed back for spilling.
        retry_delay: first retry delay (doubles each retry).
        dead_letter_dir: where the database sink writes rows it can never store
            (too large, too long); None = they are only reported and counted.
    """

    file_path: str | None = None
    max_size_mb: int = 100
    max_backups: int | None = None
    max_age_days: int | None = None
    compress: bool = True
    db_batch_size: int = 100
    flush_interval: float = 5.0
    retry_count: int = 3
    retry_delay: float = 0.5
    dead_letter_dir: str | None = None


def setup_logging(bus: Bus, db: Any = None, **fields: Any) -> list[Callable[[], None]]:
    """
    Subscribe the file sink (when ``file_path`` is set) and the database sink
    (when ``db``, an Engine or URL, is given) on ``bus`` for every event type.

    Returns:
        Closers, one per sink: each unsubscribes the sink and closes it (writing
        what it has pending). ``bus.close()`` also closes them.

    Raises:
        TypeError: an unknown LogConfig field was given.
    """
    cfg = LogConfig(**fields)
    closers: list[Callable[[], None]] = []
    if cfg.file_path:
        from audit_logging._sinks.file import RotatingJSONFileHandler

        file_sink = RotatingJSONFileHandler(
            cfg.file_path,
            max_bytes=cfg.max_size_mb * _MIB,
            backup_count=cfg.max_backups,
            max_age_days=cfg.max_age_days,
            compress=cfg.compress,
        )
        closers.append(_closer(bus, file_sink, "file"))
    if db is not None:
        from audit_logging._sinks.database import DatabaseHandler

        db_sink = DatabaseHandler(
            db,
            batch_size=cfg.db_batch_size,
            flush_interval=cfg.flush_interval,
            retry_count=cfg.retry_count,
            retry_delay=cfg.retry_delay,
            dead_letter_dir=cfg.dead_letter_dir,
        )
        closers.append(_closer(bus, db_sink, "database"))
    return closers


def _closer(bus: Bus, sink: Any, name: str) -> Callable[[], None]:
    sub = bus.subscribe(EVENT_ANY, sink, name=name)

    def close() -> None:
        sub.unsubscribe()
        sink.close()

    return close
