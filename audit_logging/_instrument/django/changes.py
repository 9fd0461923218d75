"""
Model changes from Django's model signals: ``record_created``/``updated``/``deleted``.

For each audited model (:mod:`~audit_logging._instrument.django.registry`):

- ``post_save`` with ``created`` -> ``record_created``, ``changes`` every audited
  field with a value: ``{"price": [None, "9.99"]}``;
- ``post_save`` of an existing row -> ``record_updated`` with the fields that
  changed, ``{"price": ["9.99", "19.99"]}`` (nothing changed: no event);
  ``save(update_fields=...)`` compares only those;
- ``post_delete`` -> ``record_deleted`` with the last values, ``[old, None]``;
- ``m2m_changed`` -> ``record_updated`` of the model that declares the
  ``ManyToManyField``, the field's value a delta, not a pair:
  ``{"tags": {"added": [3, 4], "removed": []}}`` (related primary keys). A
  change made from the other side (``tag.product_set.add(p)``) is recorded on
  each product it touched, under ``tags``, so a product's history is complete
  whichever side changed it. ``clear()`` lists what it removed.

The old values, decided for correctness over a cheaper guess: ``pre_save``
loads the stored row (one ``SELECT`` of the audited columns by primary key, as
django-auditlog does) instead of keeping a snapshot from ``post_init``. A
snapshot would cost a conversion for every instance every queryset loads (a
list view of 1 000 rows for one save), would be stale when another process
changed the row since it was loaded, and would miss fields deferred by
``.only()``. The ``SELECT`` costs one indexed query per update of an audited
model, runs in the save's transaction, and sees what the update overwrites.
A deletion needs none: Django loads the instances it deletes.

When the events are published: on commit of the save's transaction
(``transaction.on_commit``, at once in autocommit), so a rolled-back change
leaves no event; each event is built at the signal, so it keeps the change's
time, actor, origin and context id. Values are JSON values
(:mod:`~audit_logging._instrument.django.values`) and the bus's sanitizer
masks secret field names, so a password hash never reaches a sink.

Django does not send these signals for ``QuerySet.update()``,
``bulk_create()``, ``bulk_update()``, raw SQL and migrations: see
:mod:`~audit_logging._instrument.django.bulk`.
"""

from __future__ import annotations

from typing import Any

from audit_logging._instrument.django.emit import publish_on_commit, source
from audit_logging._instrument.django.registry import Policy, policy_for
from audit_logging._instrument.django.values import diff, json_safe, snapshot
from audit_logging._model.factories import (
    new_record_created,
    new_record_deleted,
    new_record_updated,
)

__all__ = ["connect_model", "on_m2m_changed", "on_post_delete", "on_post_save", "on_pre_save"]

_OLD = "_audit_old_values"
_CLEARED = "_audit_cleared"
_MISSING = object()


def _fields(policy: Policy, update_fields: Any) -> tuple[tuple[str, str], ...]:
    if update_fields is None:
        return policy.fields
    chosen = set(update_fields)
    return tuple((n, a) for n, a in policy.fields if n in chosen or a in chosen)


def on_pre_save(
    sender: Any, instance: Any, raw: bool = False, using: Any = None, **kwargs: Any
) -> None:
    """
    Load the stored row of an existing instance: the old values of the update.
    """
    policy = policy_for(sender)
    if policy is None:
        return
    if instance._state.adding or instance.pk is None:
        instance.__dict__[_OLD] = None
        return
    fields = _fields(policy, kwargs.get("update_fields"))
    try:
        # [:1], not first(): no ORDER BY to compile or run for a primary-key lookup.
        rows = sender._base_manager.using(using).filter(pk=instance.pk)
        found = list(rows.values(*(a for _, a in fields))[:1])
    except Exception:  # the row is unreadable: the update is recorded without old values
        found = []
    row = found[0] if found else None
    instance.__dict__[_OLD] = None if row is None else {n: row[a] for n, a in fields}


def on_post_save(
    sender: Any, instance: Any, created: bool = False, using: Any = None, **kwargs: Any
) -> None:
    """
    ``record_created``, or ``record_updated`` with the fields that changed.
    """
    policy = policy_for(sender)
    old = instance.__dict__.pop(_OLD, _MISSING)
    if policy is None:
        return
    new = snapshot(instance, _fields(policy, kwargs.get("update_fields")))
    record_id = str(instance.pk)
    if created:
        event = new_record_created(source(), policy.label, record_id, diff(None, new))
    else:
        before = {} if old is None or old is _MISSING else old
        changes = diff(before, new)
        if not changes:
            return
        event = new_record_updated(source(), policy.label, record_id, changes)
    publish_on_commit(event, using)


def on_post_delete(sender: Any, instance: Any, using: Any = None, **kwargs: Any) -> None:
    """
    ``record_deleted`` with the last values of the audited fields.
    """
    policy = policy_for(sender)
    if policy is None:
        return
    changes = diff(snapshot(instance, policy.fields), None)
    publish_on_commit(new_record_deleted(source(), policy.label, str(instance.pk), changes), using)


def _forward_field(through: Any, owner: Any) -> Any:
    for field in owner._meta.many_to_many:
        if field.remote_field.through is through:
            return field
    return None


def _sorted(values: Any) -> list[Any]:
    items = [json_safe(v) for v in values or ()]
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=str)


def on_m2m_changed(  # noqa: PLR0917 - the signal's arguments
    sender: Any,
    instance: Any,
    action: str = "",
    reverse: bool = False,
    model: Any = None,
    pk_set: Any = None,
    using: Any = None,
    **kwargs: Any,
) -> None:
    """
    ``record_updated`` of the declaring model: ``{field: {"added": [...], "removed": [...]}}``.
    """
    owner_model = model if reverse else type(instance)
    policy = policy_for(owner_model)
    field = _forward_field(sender, owner_model) if policy is not None else None
    if policy is None or field is None or field.name not in policy.m2m:
        return
    source_col, target_col = field.m2m_field_name(), field.m2m_reverse_field_name()
    mine, other = (target_col, source_col) if reverse else (source_col, target_col)
    if action == "pre_clear":
        rows = sender._base_manager.using(using).filter(**{mine: instance.pk})
        instance.__dict__[_CLEARED] = list(rows.values_list(other, flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    related = instance.__dict__.pop(_CLEARED, []) if action == "post_clear" else pk_set
    if not related:
        return
    # Normalised to the declaring side: owners are the instances whose field changed.
    pairs = [(o, [instance.pk]) for o in related] if reverse else [(instance.pk, related)]
    key = "added" if action == "post_add" else "removed"
    for owner_pk, pks in pairs:
        delta: dict[str, list[Any]] = {"added": [], "removed": []}
        delta[key] = _sorted(pks)
        changes = {field.name: delta}
        event = new_record_updated(source(), policy.label, str(json_safe(owner_pk)), changes)
        publish_on_commit(event, using)


def connect_model(model: Any) -> None:
    """
    Connect the receivers for ``model`` (and its many-to-many tables); idempotent.

    Connected per model rather than for every sender: a ``post_delete``
    receiver disables Django's fast delete for the models it listens to.
    """
    from django.db.models import signals  # type: ignore[import-untyped]

    policy = policy_for(model)
    if policy is None:
        return
    uid = f"audit_logging.{policy.label}"
    signals.pre_save.connect(on_pre_save, sender=model, dispatch_uid=uid + ".pre_save")
    signals.post_save.connect(on_post_save, sender=model, dispatch_uid=uid + ".post_save")
    signals.post_delete.connect(on_post_delete, sender=model, dispatch_uid=uid + ".post_delete")
    for field in model._meta.many_to_many:
        through = field.remote_field.through
        if field.name in policy.m2m and not isinstance(through, str):
            signals.m2m_changed.connect(
                on_m2m_changed, sender=through, dispatch_uid=f"{uid}.m2m.{field.name}"
            )
