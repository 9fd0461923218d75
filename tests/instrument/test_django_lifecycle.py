"""
Which processes are management commands, and what AUDIT_LIFECYCLE_EVENTS decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from audit_logging._engine import registry
from audit_logging._engine.bus import Bus
from audit_logging._instrument.django import emit, lifecycle


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["manage.py", "migrate"], "migrate"),
        (["/srv/app/manage.py", "shell", "-c", "1"], "shell"),
        (["/venv/bin/django-admin", "check"], "check"),
        (["/usr/lib/python3/site-packages/django/__main__.py", "migrate"], "migrate"),
        (["manage.py", "--help"], None),
        (["manage.py"], None),
        (["/venv/bin/gunicorn", "site.wsgi"], None),
        (["/venv/bin/pytest", "tests"], None),
        (["/srv/app/__main__.py", "migrate"], None),
    ],
)
def test_management_command_is_read_from_argv(argv: list[str], command: str | None) -> None:
    """manage.py, django-admin and python -m django run commands; servers and pytest do not."""
    assert lifecycle.management_command(argv) == command


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    """A bus with lifecycle events, the only one quieting sees; the quiet flag restored after."""
    monkeypatch.setattr(emit, "_quiet", False)
    made = Bus(asynchronous=False)
    monkeypatch.setattr(registry, "open_buses", lambda: [made])
    yield made
    made.close()


@pytest.mark.parametrize(
    ("setting", "argv", "quiet"),
    [
        (None, ["manage.py", "migrate"], True),
        (None, ["manage.py", "runserver"], False),
        (None, ["/venv/bin/uvicorn", "site.asgi:application"], False),
        (True, ["manage.py", "migrate"], False),
        (False, ["/venv/bin/gunicorn", "site.wsgi"], True),
    ],
)
def test_setting_and_command_decide(
    bus, setting: bool | None, argv: list[str], quiet: bool
) -> None:  # type: ignore[no-untyped-def]
    """Off for commands by default, on for servers; True and False override."""
    settings = SimpleNamespace(AUDIT_LIFECYCLE_EVENTS=setting)
    assert lifecycle.apply(settings, argv) is quiet
    assert bus.config.lifecycle_events is not quiet
