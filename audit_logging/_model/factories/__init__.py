"""
The ``new_<type>`` factories, one per predefined event type, and their ``Duration``.

Generated from the event catalog (:mod:`audit_logging._model.catalog`) by
``python -m audit_logging._model.codegen``: change the catalog, not this file.

The factories are split by family only to keep each module short: ``platform``
(HTTP, auth, database), ``domain`` (work items, comments, attachments, users, teams)
and ``logs`` (the log types, which drop the ``log_`` prefix: ``new_info`` builds
``log_info``). The typed ``*_t`` factories
are in ``typed``.
"""

from __future__ import annotations

from audit_logging._model.conversions import Duration
from audit_logging._model.factories.domain import (
    new_admin_action,
    new_attachment_added,
    new_attachment_removed,
    new_comment_added,
    new_comment_deleted,
    new_custom_field_set,
    new_record_created,
    new_record_deleted,
    new_record_updated,
    new_team_created,
    new_team_deleted,
    new_team_member_added,
    new_team_member_removed,
    new_team_updated,
    new_user_created,
    new_user_deleted,
    new_user_logged_in,
    new_user_logged_out,
    new_user_updated,
    new_work_item_assigned,
    new_work_item_created,
    new_work_item_deleted,
    new_work_item_unassigned,
    new_work_item_updated,
)
from audit_logging._model.factories.logs import (
    new_assertion_failed,
    new_debug,
    new_error,
    new_fatal,
    new_info,
    new_warning,
)
from audit_logging._model.factories.platform import (
    new_auth_credentials_checked,
    new_auth_login,
    new_auth_login_failed,
    new_auth_logout,
    new_auth_register,
    new_auth_token_issued,
    new_auth_token_revoked,
    new_db_connected,
    new_db_error,
    new_db_exec,
    new_db_init,
    new_db_query,
    new_db_tx_committed,
    new_db_tx_rolled_back,
    new_db_tx_started,
    new_http_method_not_allowed,
    new_http_request_received,
    new_http_response_sent,
    new_http_route_not_found,
)

__all__ = [
    "Duration",
    "new_admin_action",
    "new_assertion_failed",
    "new_attachment_added",
    "new_attachment_removed",
    "new_auth_credentials_checked",
    "new_auth_login",
    "new_auth_login_failed",
    "new_auth_logout",
    "new_auth_register",
    "new_auth_token_issued",
    "new_auth_token_revoked",
    "new_comment_added",
    "new_comment_deleted",
    "new_custom_field_set",
    "new_db_connected",
    "new_db_error",
    "new_db_exec",
    "new_db_init",
    "new_db_query",
    "new_db_tx_committed",
    "new_db_tx_rolled_back",
    "new_db_tx_started",
    "new_debug",
    "new_error",
    "new_fatal",
    "new_http_method_not_allowed",
    "new_http_request_received",
    "new_http_response_sent",
    "new_http_route_not_found",
    "new_info",
    "new_record_created",
    "new_record_deleted",
    "new_record_updated",
    "new_team_created",
    "new_team_deleted",
    "new_team_member_added",
    "new_team_member_removed",
    "new_team_updated",
    "new_user_created",
    "new_user_deleted",
    "new_user_logged_in",
    "new_user_logged_out",
    "new_user_updated",
    "new_warning",
    "new_work_item_assigned",
    "new_work_item_created",
    "new_work_item_deleted",
    "new_work_item_unassigned",
    "new_work_item_updated",
]
