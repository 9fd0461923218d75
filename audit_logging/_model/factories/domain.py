"""
The factories of the application's records: work items, users, teams.

Generated from the event catalog (:mod:`audit_logging._model.catalog`) by
``python -m audit_logging._model.codegen``: change the catalog, not this file.

Each factory takes the payload's values after ``source``; the context id and the
OpenTelemetry span come from the current context, and the keyword ``context_id=``
overrides the id. The payload is a fresh dict with exactly the keys of the type's
registered schema, so an event built here passes validation when given the
documented argument types; how durations, errors and maps are converted is said in
:mod:`audit_logging._model.conversions`. A factory runs on every audited action, so
it builds its dict and calls :func:`~audit_logging._model.event.new_event`, nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit_logging._model.conversions import copy_map, string_map
from audit_logging._model.event import Event, new_event

__all__ = [
    "new_admin_action",
    "new_attachment_added",
    "new_attachment_removed",
    "new_comment_added",
    "new_comment_deleted",
    "new_custom_field_set",
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
    "new_work_item_assigned",
    "new_work_item_created",
    "new_work_item_deleted",
    "new_work_item_unassigned",
    "new_work_item_updated",
]


def new_work_item_created(
    source: str, id: str, metadata: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was created; ``metadata`` is copied with string values.
    """
    return new_event(
        "work_item_created",
        source,
        {"work_item_id": id, "metadata": string_map(metadata)},
        context_id=context_id,
    )


def new_work_item_updated(
    source: str, id: str, changes: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item changed; ``changes`` is copied.
    """
    return new_event(
        "work_item_updated",
        source,
        {"work_item_id": id, "changes": copy_map(changes)},
        context_id=context_id,
    )


def new_work_item_deleted(
    source: str, id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was deleted.
    """
    return new_event("work_item_deleted", source, {"work_item_id": id}, context_id=context_id)


def new_work_item_assigned(
    source: str, item_id: str, assignee_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was assigned.
    """
    return new_event(
        "work_item_assigned",
        source,
        {"work_item_id": item_id, "assignee_id": assignee_id},
        context_id=context_id,
    )


def new_work_item_unassigned(
    source: str, item_id: str, assignee_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was unassigned.
    """
    return new_event(
        "work_item_unassigned",
        source,
        {"work_item_id": item_id, "assignee_id": assignee_id},
        context_id=context_id,
    )


def new_custom_field_set(
    source: str, item_id: str, field: str, value: Any, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A custom field of a work item was set to any value.
    """
    return new_event(
        "custom_field_set",
        source,
        {"work_item_id": item_id, "field": field, "value": value},
        context_id=context_id,
    )


def new_comment_added(
    source: str, comment_id: str, item_id: str, content: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A comment was added to a work item.
    """
    return new_event(
        "comment_added",
        source,
        {"comment_id": comment_id, "work_item_id": item_id, "comment": content},
        context_id=context_id,
    )


def new_comment_deleted(
    source: str, comment_id: str, item_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A comment was deleted.
    """
    return new_event(
        "comment_deleted",
        source,
        {"comment_id": comment_id, "work_item_id": item_id},
        context_id=context_id,
    )


def new_attachment_added(
    source: str, attachment_id: str, item_id: str, filename: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A file was attached to a work item.
    """
    return new_event(
        "attachment_added",
        source,
        {"attachment_id": attachment_id, "work_item_id": item_id, "filename": filename},
        context_id=context_id,
    )


def new_attachment_removed(
    source: str, attachment_id: str, item_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    An attachment was removed.
    """
    return new_event(
        "attachment_removed",
        source,
        {"attachment_id": attachment_id, "work_item_id": item_id},
        context_id=context_id,
    )


def new_user_created(
    source: str, user_id: str, email: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user was created.
    """
    return new_event(
        "user_created", source, {"user_id": user_id, "email": email}, context_id=context_id
    )


def new_user_updated(
    source: str, user_id: str, changes: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user changed; ``changes`` is copied.
    """
    return new_event(
        "user_updated",
        source,
        {"user_id": user_id, "changes": copy_map(changes)},
        context_id=context_id,
    )


def new_user_deleted(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user was deleted.
    """
    return new_event("user_deleted", source, {"user_id": user_id}, context_id=context_id)


def new_user_logged_in(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged in (user domain).
    """
    return new_event("user_logged_in", source, {"user_id": user_id}, context_id=context_id)


def new_user_logged_out(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged out (user domain).
    """
    return new_event("user_logged_out", source, {"user_id": user_id}, context_id=context_id)


def new_record_created(
    source: str,
    model: str,
    record_id: str,
    changes: Mapping[str, Any] | None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    A record was created; ``changes`` maps each field to ``[None, value]``.
    """
    return new_event(
        "record_created",
        source,
        {"model": model, "record_id": record_id, "changes": copy_map(changes)},
        context_id=context_id,
    )


def new_record_updated(
    source: str,
    model: str,
    record_id: str,
    changes: Mapping[str, Any] | None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    A record changed; ``changes`` maps fields to ``[old, new]``.
    """
    return new_event(
        "record_updated",
        source,
        {"model": model, "record_id": record_id, "changes": copy_map(changes)},
        context_id=context_id,
    )


def new_record_deleted(
    source: str,
    model: str,
    record_id: str,
    changes: Mapping[str, Any] | None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    A record was deleted; ``changes`` maps fields to ``[old, None]``.
    """
    return new_event(
        "record_deleted",
        source,
        {"model": model, "record_id": record_id, "changes": copy_map(changes)},
        context_id=context_id,
    )


def new_admin_action(
    source: str,
    action: str,
    model: str,
    record_id: str,
    change_message: str,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    An admin action (``add``, ``change``, ``delete``) as the admin's own log entry says it.
    """
    return new_event(
        "admin_action",
        source,
        {
            "action": action,
            "model": model,
            "record_id": record_id,
            "change_message": change_message,
        },
        context_id=context_id,
    )


def new_team_created(
    source: str, team_id: str, name: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A team was created.
    """
    return new_event(
        "team_created", source, {"team_id": team_id, "name": name}, context_id=context_id
    )


def new_team_updated(
    source: str, team_id: str, changes: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A team changed; ``changes`` is copied.
    """
    return new_event(
        "team_updated",
        source,
        {"team_id": team_id, "changes": copy_map(changes)},
        context_id=context_id,
    )


def new_team_deleted(
    source: str, team_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A team was deleted.
    """
    return new_event("team_deleted", source, {"team_id": team_id}, context_id=context_id)


def new_team_member_added(
    source: str, team_id: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user joined a team.
    """
    return new_event(
        "team_member_added", source, {"team_id": team_id, "user_id": user_id}, context_id=context_id
    )


def new_team_member_removed(
    source: str, team_id: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user left a team.
    """
    return new_event(
        "team_member_removed",
        source,
        {"team_id": team_id, "user_id": user_id},
        context_id=context_id,
    )
