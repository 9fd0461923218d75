"""
Tests for audit_logging._sinks.database.api: the sink imports without SQLAlchemy and names
the extra when it is used.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_module_imports_without_sqlalchemy_and_names_the_extra() -> None:
    """Without SQLAlchemy the module still imports; building a handler names the 'db' extra."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["sqlalchemy"] = None
        from audit_logging.sinks.database import DatabaseHandler
        from audit_logging.exceptions import MissingDependencyError
        try:
            DatabaseHandler("sqlite://")
        except MissingDependencyError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    )
    assert "audit-logging[db]" in result.stdout
