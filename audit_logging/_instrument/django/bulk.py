"""
Recording the changes Django's signals cannot see.

Django sends no model signal for ``QuerySet.update()``, ``bulk_create()``,
``bulk_update()``, raw SQL (``cursor.execute``, ``Manager.raw`` writes) and
migrations (``RunPython``/``RunSQL`` use historical models and the schema
editor): no integration built on signals, this one, django-auditlog or
django-easy-audit, records them. Two helpers do, with the same ``record_*``
events, actor, origin and context id as the signals:

- :func:`record_bulk_change` wraps the code that changes rows of a queryset:
  it reads the rows' audited fields before, again after, and publishes
  ``record_updated`` for each row that changed and ``record_deleted`` for each
  row that is gone (two ``SELECT`` s of the matching rows; meant for the
  hundreds, not the millions)::

      with record_bulk_change(Product.objects.filter(category="lamps")):
          Product.objects.filter(category="lamps").update(price=F("price") * 2)

- :func:`record_change` publishes one event for one row: an instance
  (``record_change("created", obj)`` for each object ``bulk_create`` returned,
  fields from the instance) or a model, primary key and ``changes`` you know
  (raw SQL, a data migration).

Both publish on commit of the current transaction, as the signals do. The
model need not be registered: asking is the registration (its policy is used
when it has one, else all its concrete fields).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from audit_logging._instrument.django.emit import publish_on_commit, source
from audit_logging._instrument.django.registry import Policy, policy_for
from audit_logging._instrument.django.values import diff, json_safe, snapshot
from audit_logging._model.factories import (
    new_record_created,
    new_record_deleted,
    new_record_updated,
)

__all__ = ["record_bulk_change", "record_change"]

_FACTORIES = {
    "created": new_record_created,
    "updated": new_record_updated,
    "deleted": new_record_deleted,
}


def _policy(model: Any) -> Policy:
    policy = policy_for(model)
    if policy is not None:
        return policy
    opts = model._meta
    fields = tuple((f.name, f.attname) for f in opts.concrete_fields)
    return Policy(f"{opts.app_label}.{opts.object_name}", fields, frozenset())


def _label(model: Any) -> str:
    if isinstance(model, str):
        return model
    return _policy(model).label


def record_change(
    action: str,
    obj: Any,
    record_id: Any = None,
    changes: Mapping[str, Any] | None = None,
    *,
    using: str | None = None,
) -> None:
    """
    Publish one ``record_<action>`` event (``action``: created, updated, deleted).

    ``obj`` is a model instance (``record_id`` and, unless given, ``changes``
    come from it: every audited field as ``[None, value]`` for ``created``,
    ``[value, None]`` for ``deleted``) or a model class or ``"app.Model"`` label
    with ``record_id`` and ``changes`` (``{field: [old, new]}``) as you know them.

    Raises:
        ValueError: an unknown ``action``.
    """
    factory = _FACTORIES.get(action)
    if factory is None:
        raise ValueError(f"action must be one of {sorted(_FACTORIES)}, not {action!r}")
    if hasattr(obj, "_meta") and not isinstance(obj, type):
        policy = _policy(type(obj))
        label = policy.label
        record_id = obj.pk if record_id is None else record_id
        if changes is None:
            values = snapshot(obj, policy.fields)
            changes = diff(values, None) if action == "deleted" else diff(None, values)
        using = using or getattr(getattr(obj, "_state", None), "db", None)
    else:
        label = _label(obj)
    safe = {str(k): json_safe(v) for k, v in (changes or {}).items()}
    publish_on_commit(factory(source(), label, str(json_safe(record_id)), safe), using)


def _rows(queryset: Any, policy: Policy) -> dict[Any, dict[str, Any]]:
    attnames = [a for _, a in policy.fields]
    pk = queryset.model._meta.pk.attname
    rows = queryset.values(pk, *attnames)
    return {row[pk]: {n: row[a] for n, a in policy.fields} for row in rows}


@contextmanager
def record_bulk_change(queryset: Any) -> Iterator[Any]:
    """
    Record what the ``with`` block changes in the rows of ``queryset``.

    Yields the queryset. The rows are those matching before the block; a row
    that no longer matches after it (its filter field changed) is read by
    primary key, so it is reported as updated, not deleted. Nothing is
    published when the block raises.
    """
    model = queryset.model
    policy = _policy(model)
    using = queryset.db
    before = _rows(queryset, policy)
    yield queryset
    after = _rows(model._base_manager.using(using).filter(pk__in=list(before)), policy)
    for pk, old in before.items():
        new = after.get(pk)
        if new is None:
            event = new_record_deleted(source(), policy.label, str(json_safe(pk)), diff(old, None))
        else:
            changes = diff(old, new)
            if not changes:
                continue
            event = new_record_updated(source(), policy.label, str(json_safe(pk)), changes)
        publish_on_commit(event, using)
