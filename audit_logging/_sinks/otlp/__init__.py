"""
The OTLP logs sink: audit events as OpenTelemetry log records, exported over OTLP/HTTP.

What other layers may use: :class:`OTLPHandler`. Inside: ``records`` (what an
event becomes), ``exporting`` (the SDK pipeline and the exporter that reports
each batch back; it needs the ``otlp`` extra and is imported by the handler's
constructor) and ``handler`` (pending events, failures, flush and close).
"""

from __future__ import annotations

from audit_logging._sinks.otlp.handler import OTLPHandler

__all__ = ["OTLPHandler"]
