"""
Django integration: the middleware, the app config and the audit helpers.

Each module imports Django only when it is imported, so the core package never
depends on Django; the model and signal modules import no models at import
(``AppConfig.ready()`` connects them).
"""

from audit_logging._instrument.django.actor import django_actor
from audit_logging._instrument.django.bulk import record_bulk_change, record_change
from audit_logging._instrument.django.middleware import AuditMiddleware
from audit_logging._instrument.django.registry import register, unregister

__all__ = [
    "AuditMiddleware",
    "django_actor",
    "record_bulk_change",
    "record_change",
    "register",
    "unregister",
]
