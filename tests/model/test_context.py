"""
Tests for audit_logging._model.context: context ids bound per thread and per asyncio task.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from audit_logging.context import bind_context_id, get_context_id
from audit_logging.events import new_event


def test_default_context_id_is_empty() -> None:
    """Without a binding the context id is ""."""
    assert get_context_id() == ""


def test_bind_sets_and_yields_the_id() -> None:
    """bind_context_id sets the id for the block and yields it."""
    with bind_context_id("req-1") as bound:
        assert bound == "req-1"
        assert get_context_id() == "req-1"
    assert get_context_id() == ""


def test_nested_binds_restore_the_outer_id() -> None:
    """Leaving a nested binding restores the outer id, then the empty default."""
    with bind_context_id("outer"):
        with bind_context_id("inner"):
            assert get_context_id() == "inner"
        assert get_context_id() == "outer"
    assert get_context_id() == ""


def test_binding_is_restored_after_an_exception() -> None:
    """An exception inside the block still restores the previous id."""
    with bind_context_id("outer"):
        with pytest.raises(RuntimeError), bind_context_id("inner"):
            raise RuntimeError("boom")
        assert get_context_id() == "outer"


def test_bind_rejects_non_str() -> None:
    """A non-string id is a TypeError."""
    with pytest.raises(TypeError, match="str"), bind_context_id(42):  # type: ignore[arg-type]
        pass


def test_events_carry_the_bound_id() -> None:
    """Events built inside a binding carry its id."""
    with bind_context_id("req-9"):
        evt = new_event("x")
    assert evt.context_id == "req-9"
    assert new_event("x").context_id == ""


@pytest.mark.timeout(30)
def test_new_thread_does_not_see_the_callers_id() -> None:
    """A thread started inside a binding does not inherit the id."""
    seen: list[str] = []
    with bind_context_id("main"):
        thread = threading.Thread(target=lambda: seen.append(get_context_id()))
        thread.start()
        thread.join(timeout=10)
    assert seen == [""]


@pytest.mark.timeout(30)
def test_threads_bind_independently() -> None:
    """Two threads binding at the same time each see only their own id."""
    barrier = threading.Barrier(2)
    seen: dict[str, str] = {}

    def work(name: str) -> None:
        with bind_context_id(name):
            barrier.wait(timeout=10)
            seen[name] = get_context_id()
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == {"a": "a", "b": "b"}
    assert get_context_id() == ""


@pytest.mark.timeout(30)
def test_asyncio_tasks_are_isolated() -> None:
    """Interleaved asyncio tasks each keep their own bound id."""

    async def main() -> dict[str, str]:
        both_bound = asyncio.Event()
        ready: list[str] = []
        seen: dict[str, str] = {}

        async def work(name: str) -> None:
            with bind_context_id(name):
                ready.append(name)
                if len(ready) == 2:
                    both_bound.set()
                await both_bound.wait()
                seen[name] = get_context_id()

        await asyncio.gather(work("a"), work("b"))
        return seen

    assert asyncio.run(main()) == {"a": "a", "b": "b"}


@pytest.mark.timeout(30)
def test_task_inherits_id_bound_at_creation() -> None:
    """A task created inside a binding sees the id; its own binding does not leak out."""

    async def main() -> tuple[str, str, str]:
        async def child() -> str:
            inherited = get_context_id()
            with bind_context_id("child"):
                await asyncio.sleep(0)
            return inherited

        with bind_context_id("parent"):
            inherited = await asyncio.create_task(child())
            after = get_context_id()
        return inherited, after, get_context_id()

    assert asyncio.run(main()) == ("parent", "parent", "")
