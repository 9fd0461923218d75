"""
The Django app config of the audit trail.

Listing ``"audit_logging.contrib.django"`` in ``INSTALLED_APPS`` selects
:class:`AuditConfig` (Django picks the only ``AppConfig`` of an app's ``apps``
module). Its ``ready()`` is where the integration connects what needs the app
registry: Django builds ``LOGGING`` handlers and middleware before the registry
is ready, so nothing here runs at import.
"""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]

__all__ = ["AuditConfig"]


class AuditConfig(AppConfig):  # type: ignore[misc]
    """
    ``INSTALLED_APPS = [..., "audit_logging.contrib.django"]``.
    """

    name = "audit_logging.contrib.django"
    label = "audit_logging"
    verbose_name = "Audit trail"
    default = True
