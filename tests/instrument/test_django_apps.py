"""
The Django app config is found from the app's dotted path, as ``INSTALLED_APPS`` lists it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_installed_apps_entry_selects_audit_config() -> None:
    script = textwrap.dedent(
        """
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["audit_logging.contrib.django"])
        django.setup()
        from django.apps import apps
        config = apps.get_app_config("audit_logging")
        print(type(config).__module__, type(config).__name__)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["audit_logging._instrument.django.apps", "AuditConfig"]
