"""
Tests for audit_logging._security.access:
the admin check, the ambient access context and its isolation (S18).
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from audit_logging.access import (
    ADMIN_ROLE,
    access_context,
    check_history_access,
    current_access_context,
)
from audit_logging.exceptions import AccessDeniedError
from audit_logging.typing import AccessControlFunc
from tests._helpers import UnreadableMapping


class _Role(enum.StrEnum):
    ADMIN = "admin"


class _LyingStr(str):
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


def test_admin_ctx_is_allowed() -> None:
    """ctx={"role": "admin"} passes."""
    check_history_access({"role": "admin"})


def test_admin_str_enum_is_allowed() -> None:
    """A StrEnum whose value is "admin" is the string "admin"."""
    check_history_access({"role": _Role.ADMIN})


@pytest.mark.parametrize(
    "role",
    [
        "Admin",
        "ADMIN",
        " admin",
        "admin ",
        "admin\n",
        "",
        "user",
        ["admin"],
        ("admin",),
        b"admin",
        1,
        None,
    ],
    ids=repr,
)
def test_anything_but_exact_admin_is_refused(role: Any) -> None:
    """Only the exact string "admin" is accepted (S18)."""
    with pytest.raises(AccessDeniedError):
        check_history_access({"role": role})


def test_str_subclass_cannot_fake_equality() -> None:
    """A str subclass whose __eq__ always says yes is compared by its real text."""
    with pytest.raises(AccessDeniedError):
        check_history_access({"role": _LyingStr("guest")})


def test_ctx_without_role_is_refused() -> None:
    """An empty mapping grants nothing."""
    with pytest.raises(AccessDeniedError, match="no role"):
        check_history_access({})


def test_non_mapping_ctx_is_refused() -> None:
    """A list of pairs is not a context."""
    with pytest.raises(AccessDeniedError, match="mapping"):
        check_history_access([("role", "admin")])  # type: ignore[arg-type]


def test_unreadable_ctx_is_refused() -> None:
    """A mapping that raises when read is denied, not an internal error."""
    with pytest.raises(AccessDeniedError):
        check_history_access(UnreadableMapping())


def test_denial_message_names_the_required_and_given_role() -> None:
    """The message says what was required and what was given."""
    with pytest.raises(AccessDeniedError, match=r"'admin' required, got 'Admin'"):
        check_history_access({"role": "Admin"})


def test_denial_is_a_permission_error() -> None:
    """AccessDeniedError is catchable as PermissionError."""
    with pytest.raises(PermissionError):
        check_history_access({"role": "user"})


def test_no_ctx_outside_access_context_is_refused() -> None:
    """history(None) outside any admin context is denied, and the message says how to allow it."""
    with pytest.raises(AccessDeniedError, match="access_context"):
        check_history_access(None)


def test_no_ctx_inside_admin_access_context_is_allowed() -> None:
    """With ctx=None, the ambient admin context grants access."""
    with access_context(role="admin"):
        check_history_access(None)
        check_history_access()


def test_no_ctx_inside_non_admin_access_context_is_refused() -> None:
    """The ambient context is held to the same exact-"admin" rule."""
    with access_context(role="Admin"), pytest.raises(AccessDeniedError):
        check_history_access(None)


def test_explicit_ctx_wins_over_the_ambient_context() -> None:
    """A given ctx alone decides, even inside an admin block."""
    with access_context(role="admin"), pytest.raises(AccessDeniedError):
        check_history_access({"role": "user"})


def test_access_context_yields_a_read_only_mapping() -> None:
    """The block receives role plus extra attributes, and cannot edit them."""
    with access_context(role="admin", user_id="u1") as ctx:
        assert dict(ctx) == {"role": "admin", "user_id": "u1"}
        assert current_access_context() is ctx
        with pytest.raises(TypeError):
            ctx["role"] = "user"  # type: ignore[index]


def test_current_access_context_is_none_outside_blocks() -> None:
    """No block, no context."""
    assert current_access_context() is None


def test_nested_blocks_restore_the_outer_context() -> None:
    """Leaving an inner block brings back the outer context."""
    with access_context(role="user") as outer:
        with access_context(role="admin"):
            check_history_access()
        assert current_access_context() is outer
    assert current_access_context() is None


def test_context_is_reset_after_an_exception() -> None:
    """An exception inside the block does not leave the admin context behind."""
    with pytest.raises(RuntimeError), access_context(role="admin"):
        raise RuntimeError
    assert current_access_context() is None


@pytest.mark.timeout(30)
def test_admin_context_does_not_leak_to_another_thread() -> None:
    """Thread A inside an admin block; thread B, checking meanwhile, is denied."""
    entered, checked = threading.Event(), threading.Event()
    outcome: list[BaseException | None] = []

    def thread_a() -> None:
        with access_context(role="admin"):
            entered.set()
            checked.wait()

    def thread_b() -> None:
        entered.wait()
        try:
            check_history_access(None)
            outcome.append(None)
        except AccessDeniedError as exc:
            outcome.append(exc)
        finally:
            checked.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(outcome[0], AccessDeniedError)


@pytest.mark.timeout(30)
def test_admin_context_of_the_caller_does_not_reach_a_new_thread() -> None:
    """A thread started inside an admin block does not inherit it."""
    seen: list[Mapping[str, Any] | None] = []
    with access_context(role="admin"):
        thread = threading.Thread(target=lambda: seen.append(current_access_context()))
        thread.start()
        thread.join()
    assert seen == [None]


@pytest.mark.timeout(30)
def test_admin_context_does_not_leak_to_another_task() -> None:
    """Task A inside an admin block; task B, created outside it, is denied meanwhile."""

    async def main() -> BaseException | None:
        entered, checked = asyncio.Event(), asyncio.Event()

        async def task_a() -> None:
            with access_context(role="admin"):
                entered.set()
                await checked.wait()

        async def task_b() -> BaseException | None:
            await entered.wait()
            try:
                check_history_access(None)
                return None
            except AccessDeniedError as exc:
                return exc
            finally:
                checked.set()

        _, result = await asyncio.gather(task_a(), task_b())
        return result

    assert isinstance(asyncio.run(main()), AccessDeniedError)


@pytest.mark.timeout(30)
def test_task_created_inside_the_block_inherits_it() -> None:
    """contextvars semantics: a task started inside an admin block carries it (documented)."""

    async def main() -> Mapping[str, Any] | None:
        with access_context(role="admin", user_id="u1"):
            inner = asyncio.create_task(_read_context())
        return await inner

    async def _read_context() -> Mapping[str, Any] | None:
        return current_access_context()

    result = asyncio.run(main())
    assert result is not None
    assert result["user_id"] == "u1"


def test_check_history_access_is_an_access_control_func() -> None:
    """It fits the AccessControlFunc seam the bus takes."""
    func: AccessControlFunc = check_history_access
    func({"role": ADMIN_ROLE})


class _Hostile:
    """A role whose repr, str and equality all raise."""

    def __repr__(self) -> str:
        raise RuntimeError("repr boom")

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq boom")

    __hash__ = object.__hash__


def _refusals(bus) -> list[dict]:
    return [
        e.payload
        for e in bus.history({"role": ADMIN_ROLE})
        if e.type == "audit_history_accessed" and not e.payload["granted"]
    ]


def test_a_hostile_role_is_refused_with_access_denied_and_audited():
    """history({'role': obj}) with a raising repr: AccessDeniedError, the refusal audited."""
    from audit_logging import Bus

    with Bus(asynchronous=False) as bus:
        with pytest.raises(AccessDeniedError, match="got a _Hostile"):
            bus.history({"role": _Hostile()})
        assert _refusals(bus) == [{"granted": False, "role": "<_Hostile>", "entries": 0}]


def test_a_custom_access_control_that_crashes_is_a_refusal():
    """Whatever access_control raises reaches the caller as AccessDeniedError, audited."""
    from audit_logging import Bus

    def broken(ctx):
        raise KeyError("user")

    with Bus(asynchronous=False, access_control=broken) as bus:
        with pytest.raises(AccessDeniedError, match="access control raised KeyError") as info:
            bus.history({"role": "admin"})
        assert info.value.__cause__ is None
        assert len([e for e in bus._history.snapshot() if e.type == "audit_history_accessed"]) == 1


def test_a_str_subclass_role_with_a_raising_repr_is_refused():
    """check_history_access never calls a subclass's __repr__."""

    class Sly(str):
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(AccessDeniedError, match="'administrator'"):
        check_history_access({"role": Sly("administrator")})
