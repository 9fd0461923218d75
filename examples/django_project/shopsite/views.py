"""
Views that log ordinary records and a domain event.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

log = logging.getLogger("shop")


def item(request: HttpRequest, item_id: str) -> HttpResponse:
    """Log a viewed item (its id becomes a field)."""
    log.info("item viewed", extra={"item_id": item_id})
    return JsonResponse({"id": item_id})


class LoginView(View):
    """POST only: a GET is answered with 405 by Django itself."""

    def post(self, request: HttpRequest) -> HttpResponse:
        """Publish ``auth_login`` through the logger."""
        log.info("login", extra={"event_type": "auth_login", "payload": {"user_id": "u1"}})
        return JsonResponse({"ok": True})


def boom(request: HttpRequest) -> HttpResponse:
    """Fail with a secret in the message (it must be masked in the sinks)."""
    raise RuntimeError("cannot reach postgresql://shop:s3cr3t@db/shop")
