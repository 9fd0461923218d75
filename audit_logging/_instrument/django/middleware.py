"""
Django middleware publishing the HTTP events of every request.

Add ``"audit_logging.contrib.django.AuditMiddleware"`` to ``MIDDLEWARE`` (first,
so it also sees the responses other middleware produce). Settings:
``AUDIT_BUS`` (registry name, default ``"default"``) and ``AUDIT_SOURCE``
(default ``"django"``). The bus is looked up at the first request, not at
import or construction: Django builds middleware and ``LOGGING`` handlers before
the app registry is ready, and nothing here needs models.

Django answers unknown URLs (404) and wrong methods on class-based views (405)
with responses, and turns view exceptions into 500 responses before they reach
this middleware, so the status of the response is what is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audit_logging._instrument.http import REQUEST_ID_HEADER, HTTPAuditor, request_id_from
from audit_logging._model.context import bind_context_id

__all__ = ["AuditMiddleware"]


class AuditMiddleware:
    """
    New-style Django middleware: ``AuditMiddleware(get_response)``.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.conf import settings  # type: ignore[import-untyped]

        self.get_response = get_response
        self.auditor = HTTPAuditor(
            getattr(settings, "AUDIT_BUS", "default"),
            source=getattr(settings, "AUDIT_SOURCE", "django"),
        )

    def __call__(self, request: Any) -> Any:
        """
        Serve one request inside its context id and echo it in ``X-Request-ID``.
        """
        context_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        method, path = str(request.method), str(request.path)
        auditor = self.auditor
        with bind_context_id(context_id):
            started = auditor.received(method, path, context_id)
            try:
                response = self.get_response(request)
            except BaseException:
                auditor.finished(method, path, 500, started, context_id)
                raise
            auditor.finished(method, path, int(response.status_code), started, context_id)
        response[REQUEST_ID_HEADER] = context_id
        return response
