"""
Flask adapter: wraps ``app.wsgi_app`` in :class:`~audit_logging._instrument.http.AuditMiddleware`.

Flask has no ``LOGGING`` setting: call ``logging.config.dictConfig`` (with an
:class:`~audit_logging._bridges.handler.AuditHandler`) *before* creating the app, then
``FlaskAudit(app, bus="default")`` or ``FlaskAudit().init_app(app)`` (the usual
extension pattern). Wrapping the WSGI callable rather than using
``before_request`` hooks also covers the 404/405 responses Flask produces
before any view runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audit_logging._instrument.http import AuditMiddleware

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["FlaskAudit"]


class FlaskAudit:
    """
    Flask extension publishing the HTTP events of every request.

    Args:
        app: the Flask app (or ``None`` and :meth:`init_app` later).
        bus: a bus or a registry name; the app config key ``AUDIT_BUS`` wins.
        source: the events' source (default: the app's name); ``AUDIT_SOURCE`` wins.
    """

    def __init__(
        self, app: Any = None, *, bus: Bus | str = "default", source: str | None = None
    ) -> None:
        self.bus = bus
        self.source = source
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """
        Wrap ``app.wsgi_app`` once and register the extension.
        """
        if isinstance(app.wsgi_app, AuditMiddleware):
            return
        bus = app.config.get("AUDIT_BUS", self.bus)
        source = app.config.get("AUDIT_SOURCE", self.source) or app.name
        app.wsgi_app = AuditMiddleware(app.wsgi_app, bus, source=source)
        app.extensions["audit_logging"] = self
