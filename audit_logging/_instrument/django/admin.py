"""
The admin's actions as ``admin_action`` events, from the admin's own ``LogEntry``.

An admin add, change or delete of an audited model already produces a
``record_*`` event with the diff and the admin as actor. The admin's log entry
is recorded too (setting ``AUDIT_ADMIN_EVENTS``, default ``True``) because it
says what the model events cannot: that the change was made *through the
admin*, with the admin's own description of it (``change_message``: "Changed
Price.", "Added."), and it covers models that are not audited at all (the
admin then still leaves a trace of who touched what).

``admin_action``: ``action`` (``add``, ``change``, ``delete``), ``model``
(``"shop.Product"``), ``record_id`` (the object's primary key as text) and
``change_message`` (the admin's text, as its history page shows it). It is
taken from ``post_save`` of a new ``LogEntry`` and published when the admin's
transaction commits, with the request's context id, actor and origin.

Not seen: the admin writes the entries of a bulk action on several objects
(the "delete selected" action) with ``bulk_create``, which sends no signal
(Django >= 5.1); the ``record_deleted`` events of the audited models cover those.
"""

from __future__ import annotations

from typing import Any

from audit_logging._instrument.django.emit import publish_on_commit, source
from audit_logging._model.factories import new_admin_action

__all__ = ["ACTIONS", "connect", "on_log_entry_saved"]

ACTIONS = {1: "add", 2: "change", 3: "delete"}
"""``LogEntry.action_flag`` -> ``action`` (ADDITION, CHANGE, DELETION)."""


def _model_label(entry: Any) -> str:
    try:
        content_type = entry.content_type
        model = content_type.model_class() if content_type is not None else None
    except Exception:
        return ""
    if model is None:
        return "" if content_type is None else f"{content_type.app_label}.{content_type.model}"
    return f"{model._meta.app_label}.{model._meta.object_name}"


def on_log_entry_saved(
    sender: Any, instance: Any, created: bool = False, using: Any = None, **kwargs: Any
) -> None:
    """
    ``post_save`` of ``LogEntry``: publish ``admin_action`` for a new entry.
    """
    if not created:
        return
    action = ACTIONS.get(int(instance.action_flag or 0), str(instance.action_flag))
    try:
        message = str(instance.get_change_message())
    except Exception:  # a malformed message: the stored text
        message = str(instance.change_message or "")
    event = new_admin_action(
        source(), action, _model_label(instance), str(instance.object_id or ""), message
    )
    publish_on_commit(event, using)


def connect() -> None:
    """
    Connect the receiver to ``LogEntry`` when the admin is installed.
    """
    from django.apps import apps  # type: ignore[import-untyped]
    from django.db.models import signals  # type: ignore[import-untyped]

    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import LogEntry  # type: ignore[import-untyped]

    signals.post_save.connect(
        on_log_entry_saved, sender=LogEntry, dispatch_uid="audit_logging.admin_action"
    )
