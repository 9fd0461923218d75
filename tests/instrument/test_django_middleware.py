"""
The Django middleware's modes: sync and async (no thread hop under ASGI), and
the post-chain 4xx/5xx record logged by it only when it is first in MIDDLEWARE.
(The behaviour through real requests: tests/instrument/test_django_trail*.py.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("django")

SCRIPT = textwrap.dedent(
    """
    import django
    from django.conf import settings

    AUDIT = "audit_logging.contrib.django.AuditMiddleware"
    settings.configure(MIDDLEWARE=["django.middleware.common.CommonMiddleware", AUDIT])
    django.setup()

    from asgiref.sync import iscoroutinefunction
    from django.test import override_settings

    from audit_logging.contrib.django import AuditMiddleware

    async def async_view(request):
        return None

    def sync_view(request):
        return None

    sync_mw, async_mw = AuditMiddleware(sync_view), AuditMiddleware(async_view)
    print("sync", iscoroutinefunction(sync_mw), iscoroutinefunction(sync_mw.process_view))
    print("async", iscoroutinefunction(async_mw), iscoroutinefunction(async_mw.process_view))
    print("second", sync_mw.logs_response)
    with override_settings(MIDDLEWARE=[AUDIT, "django.middleware.common.CommonMiddleware"]):
        print("first", AuditMiddleware(sync_view).logs_response)
    """
)


def test_modes_and_where_the_post_chain_record_is_logged() -> None:
    """Async get_response: a coroutine middleware and process_view; early log only when first."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.splitlines() == [
        "sync False False",
        "async True True",
        "second False",
        "first True",
    ]
