"""
Typed payload dataclasses and the *_t factories returning Event[<dataclass>].

A public face: the implementation lives in :mod:`audit_logging._model.payloads`.
"""

from audit_logging._model.payloads import (
    AuthRegisterPayload,
    HTTPRequestPayload,
    HTTPResponsePayload,
    LogPayload,
    new_assertion_failed_t,
    new_auth_register_t,
    new_debug_t,
    new_error_t,
    new_fatal_t,
    new_http_request_received_t,
    new_http_response_sent_t,
    new_info_t,
    new_warning_t,
)

__all__ = [
    "AuthRegisterPayload",
    "HTTPRequestPayload",
    "HTTPResponsePayload",
    "LogPayload",
    "new_assertion_failed_t",
    "new_auth_register_t",
    "new_debug_t",
    "new_error_t",
    "new_fatal_t",
    "new_http_request_received_t",
    "new_http_response_sent_t",
    "new_info_t",
    "new_warning_t",
]
