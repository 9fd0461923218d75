"""
Django integration: the request middleware and the app config.

Each module imports Django only when it is imported, so the core package never
depends on Django.
"""

from audit_logging._instrument.django.middleware import AuditMiddleware

__all__ = ["AuditMiddleware"]
