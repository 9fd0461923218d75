"""
The event most engine tests publish.
"""

from __future__ import annotations

from typing import Any

from audit_logging.events import Event, new_event


def login(user: str = "u42") -> Event[Any]:
    return new_event("auth_login", "api", {"user_id": user})
