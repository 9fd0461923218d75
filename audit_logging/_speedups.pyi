# Stubs of the compiled accelerator (audit_logging/_speedups.c).
import contextvars
from collections.abc import Callable
from typing import Any

def configure(
    *,
    record_type: type[Any],
    event_type: type[Any],
    standard: frozenset[str],
    special: frozenset[str],
    context_var: contextvars.ContextVar[str],
    scope_var: contextvars.ContextVar[Any],
    span_func: Callable[[], Any],
    uuid_func: Callable[[], str],
    safe_str: Callable[[object], str],
    utc: Any,
    types: tuple[str, str, str],
    n_standard: int,
    max_items: int,
) -> None: ...
def record_to_event(record: Any, source: str | None, /) -> Any | None: ...
def new_event(
    type: str,
    source: str,
    payload: Any,
    context_id: str,
    id: str,
    time: Any,
    span_context: Any,
    actor: Any,
    origin: Any,
    /,
) -> Any: ...
def payload_clean(
    payload: Any,
    rules: dict[str, Any],
    keep_value: Any,
    protect: Any,
    max_depth: int,
    card_min: int,
    /,
) -> bool | None: ...
def copy_and_size(payload: Any, unknown: Any, max_depth: int, /) -> tuple[Any, int]: ...
def uuid7(now_ns: int | None = None) -> str: ...
def utc_from_timestamp(created: float, utc: Any, /) -> Any: ...
