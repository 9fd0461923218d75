"""
Which models' changes are audited, and which of their fields.

Two ways in, combined:

- :func:`register` in code (``register(Product, exclude_fields=["views"])``),
  from ``AppConfig.ready()`` of your app or any module imported by then; it
  can also be used as a class decorator (``@register()``);
- the ``AUDIT_MODELS`` setting: ``None`` (the default: registered models only),
  ``"__all__"`` (every model), or a list of ``"app_label"`` /
  ``"app_label.ModelName"`` labels; ``AUDIT_MODELS_EXCLUDE`` lists labels left out.

Why not every model by default: auditing a model costs a ``SELECT`` of the old
row on each update and turns off Django's fast delete for it (a delete then
loads the rows to send ``post_delete``), and most projects have models nobody
audits (caches, counters). Opting in is one line per model.

Left out unless registered by name (noise, or covered otherwise): the admin's
``LogEntry`` (it becomes ``admin_action``, see
:mod:`~audit_logging._instrument.django.admin`), sessions, content types,
permissions and the migration recorder (``DEFAULT_EXCLUDED``).

Fields: the concrete fields (foreign keys by name, their value the related
primary key) and the many-to-many fields, less ``exclude_fields``, or only
``include_fields``. Secret fields need not be excluded: the bus's sanitizer
masks values under secret-looking keys (``password``: ``"****"``), so a
``User``'s password hash never reaches a sink; excluding them keeps even the
fact that they changed out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_EXCLUDED",
    "Policy",
    "policy_for",
    "register",
    "registered",
    "tracked_models",
    "unregister",
]

DEFAULT_EXCLUDED = frozenset(
    {"admin.logentry", "sessions.session", "contenttypes.contenttype", "auth.permission"}
)
"""Model labels (lower case) never audited unless registered explicitly."""

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Policy:
    """
    How one model is audited: the names of its audited fields.

    Attributes:
        label: ``"app_label.ModelName"``, the ``model`` of its events.
        fields: concrete fields audited: (name, attname) pairs.
        m2m: many-to-many field names audited.
    """

    label: str
    fields: tuple[tuple[str, str], ...]
    m2m: frozenset[str]


_registered: dict[type, tuple[frozenset[str] | None, frozenset[str]]] = {}
_policies: dict[type, Policy | None] = {}
_on_register: list[Callable[[type], None]] = []


def register(
    model: Any = None,
    *,
    include_fields: Iterable[str] | None = None,
    exclude_fields: Iterable[str] = (),
) -> Any:
    """
    Audit ``model``'s creates, updates, deletes and many-to-many changes.

    ``register(Product)``, or ``@register(exclude_fields=[...])`` on the class.
    Registering again replaces the field choice.
    """

    def apply(cls: M) -> M:
        include = None if include_fields is None else frozenset(include_fields)
        _registered[cls] = (include, frozenset(exclude_fields))  # type: ignore[index]
        _policies.clear()
        for hook in list(_on_register):
            hook(cls)  # type: ignore[arg-type]
        return cls

    return apply if model is None else apply(model)


def unregister(model: type) -> None:
    """
    Stop auditing a registered model (settings may still select it).
    """
    _registered.pop(model, None)
    _policies.clear()


def registered() -> list[type]:
    """
    The models passed to :func:`register`.
    """
    return list(_registered)


def on_register(hook: Callable[[type], None]) -> None:
    """
    Call ``hook(model)`` for each later :func:`register` (the receivers connect then).
    """
    if hook not in _on_register:
        _on_register.append(hook)


def _label(model: Any) -> str:
    return f"{model._meta.app_label}.{model._meta.object_name}"


def _selected_by_settings(model: Any) -> bool:
    from django.conf import settings  # type: ignore[import-untyped]

    label = _label(model).lower()
    excluded = {str(x).lower() for x in getattr(settings, "AUDIT_MODELS_EXCLUDE", ())}
    if label in DEFAULT_EXCLUDED or label in excluded or model._meta.app_label in excluded:
        return False
    if model._meta.app_label == "migrations":  # django.db.migrations' recorder
        return False
    wanted = getattr(settings, "AUDIT_MODELS", None)
    if wanted == "__all__":
        return True
    if not wanted:
        return False
    labels = {str(x).lower() for x in wanted}
    return label in labels or model._meta.app_label.lower() in labels


def _build(model: Any) -> Policy | None:
    choice = _registered.get(model)
    if choice is None:
        concrete = getattr(model._meta, "concrete_model", model)
        choice = _registered.get(concrete) if concrete is not model else None
    if choice is None:
        if model._meta.proxy or not _selected_by_settings(model):
            return None
        choice = (None, frozenset())
    include, exclude = choice

    def keep(name: str, attname: str) -> bool:
        if name in exclude or attname in exclude:
            return False
        return include is None or name in include or attname in include

    fields = tuple(
        (f.name, f.attname) for f in model._meta.concrete_fields if keep(f.name, f.attname)
    )
    m2m = frozenset(f.name for f in model._meta.many_to_many if keep(f.name, f.name))
    return Policy(_label(model), fields, m2m)


def policy_for(model: Any) -> Policy | None:
    """
    The model's policy, or ``None`` when it is not audited (cached per model class).
    """
    try:
        return _policies[model]
    except KeyError:
        pass
    try:
        policy = _build(model)
    except Exception:  # a model without _meta (a test double): not audited
        policy = None
    _policies[model] = policy
    return policy


def tracked_models() -> list[Any]:
    """
    Every installed model audited now (registered or selected by the settings).
    """
    from django.apps import apps  # type: ignore[import-untyped]

    models = [m for m in apps.get_models() if policy_for(m) is not None]
    models += [m for m in _registered if m not in models]
    return models
