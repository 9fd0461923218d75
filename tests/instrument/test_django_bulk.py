"""
What Django's signals do not show, recorded with the helpers, and the edges of
the signal path: bulk_create + record_change, QuerySet.update() inside
record_bulk_change, a rolled-back transaction (no event), raw SQL told by
hand, reverse-side and clear() many-to-many changes, a save that changes
nothing, save(update_fields=...), a model nobody audits (no event), and an
auth signal fired outside the middleware's binding for a request it served.

Runs in the project of tests/instrument/_django_project.py, in a subprocess,
outside any request: the actor is bound with bind_actor, as in a worker or CLI.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.instrument import _django_project as project

pytest.importorskip("django")
pytest.importorskip("rest_framework")

pytestmark = pytest.mark.timeout(180)

DRIVER = textwrap.dedent(
    """
    import django

    django.setup()

    from django.db import connection, transaction
    from django.db.models import F

    from audit_logging._engine.registry import get_bus
    from audit_logging.context import bind_actor, bind_context_id
    from audit_logging.contrib.django import record_bulk_change, record_change
    from shop.models import Product, Tag


    with bind_actor(user_id="ops", username="ops", auth_method="cli"):
        with bind_context_id("bulk-create"):
            made = Product.objects.bulk_create(
                [Product(name="a", price="1.00"), Product(name="b", price="7.00")]
            )
            for obj in made:
                record_change("created", obj)
        with bind_context_id("update"):
            cheap = Product.objects.filter(price__lt=5)
            with record_bulk_change(cheap):
                cheap.update(price=F("price") * 2)
        with bind_context_id("rollback"):
            try:
                with transaction.atomic():
                    with record_bulk_change(Product.objects.all()) as rows:
                        rows.update(name="x")
                    record_change("deleted", "shop.Product", 1, {"name": ["a", None]})
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
        with bind_context_id("raw"):
            with connection.cursor() as cursor:
                cursor.execute("UPDATE shop_product SET name = 'B' WHERE name = 'b'")
            record_change("updated", Product, 2, {"name": ["b", "B"]})
        with bind_context_id("m2m"):
            red = Tag.objects.create(name="red")
            red.product_set.add(*Product.objects.all())
            Product.objects.get(pk=1).tags.clear()
        with bind_context_id("saves"):
            first = Product.objects.get(pk=1)
            first.save()
            first.views = 10
            first.save()
            first.name, first.price = "A", "3.00"
            first.save(update_fields=["name"])

    # A signal fired outside the middleware's binding, for a request it served.
    from django.contrib.auth import authenticate
    from django.test import RequestFactory
    from audit_logging._model.scope import Origin, Scope

    request = RequestFactory().post("/accounts/login/")
    request._audit_scope = Scope(None, Origin(client_ip="192.0.2.1"))
    request._audit_context_id = "outside"
    assert authenticate(request, username="nobody", password="x") is None

    get_bus("default").close()
    print("driven")
    """
)


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What the driver left in the file sink."""
    site: Path = project.build(tmp_path_factory.mktemp("bulk-site"))
    audit = site / "bulk.jsonl"
    (site / "bulk_driver.py").write_text(DRIVER)
    out = subprocess.run(  # noqa: PLW1510 - the status is asserted with stderr
        [sys.executable, "bulk_driver.py"],
        cwd=site,
        env=project.env(site, audit),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert "driven" in out.stdout
    return project.events(audit)


def changes(trail: list[dict[str, Any]], context_id: str) -> list[tuple[str, str, Any]]:
    """(type, record_id, changes) of the record events of one context."""
    return [
        (e["type"], e["payload"]["record_id"], e["payload"]["changes"])
        for e in trail
        if e["context_id"] == context_id and e["type"].startswith("record_")
    ]


OPS = {"user_id": "ops", "username": "ops", "auth_method": "cli"}


def test_bulk_create_recorded_by_record_change(trail: list[dict[str, Any]]) -> None:
    """bulk_create sends no signal: record_change per returned object, with the actor."""
    assert changes(trail, "bulk-create") == [
        ("record_created", "1", {"id": [None, 1], "name": [None, "a"], "price": [None, "1.00"]}),
        ("record_created", "2", {"id": [None, 2], "name": [None, "b"], "price": [None, "7.00"]}),
    ]
    assert all(e["actor"] == OPS for e in trail if e["context_id"] == "bulk-create")


def test_queryset_update_recorded_by_record_bulk_change(trail: list[dict[str, Any]]) -> None:
    """QuerySet.update(): the rows read before and after, one record_updated per change."""
    assert changes(trail, "update") == [("record_updated", "1", {"price": ["1.00", "2.00"]})]


def test_rolled_back_changes_leave_no_event(trail: list[dict[str, Any]]) -> None:
    """Published on commit: a rollback drops them."""
    assert changes(trail, "rollback") == []


def test_raw_sql_told_by_hand(trail: list[dict[str, Any]]) -> None:
    """record_change with a model, a primary key and the changes."""
    assert changes(trail, "raw") == [("record_updated", "2", {"name": ["b", "B"]})]


def test_m2m_from_the_other_side_and_clear(trail: list[dict[str, Any]]) -> None:
    """tag.product_set.add() is recorded on each product; clear() lists what it removed."""
    assert changes(trail, "m2m") == [
        ("record_updated", "1", {"tags": {"added": [1], "removed": []}}),
        ("record_updated", "2", {"tags": {"added": [1], "removed": []}}),
        ("record_updated", "1", {"tags": {"added": [], "removed": [1]}}),
    ]


def test_saves_record_only_what_changed(trail: list[dict[str, Any]]) -> None:
    """No change: no event; an excluded field: no event; update_fields: only those."""
    assert changes(trail, "saves") == [("record_updated", "1", {"name": ["a", "A"]})]


def test_signal_outside_the_binding_carries_its_request(trail: list[dict[str, Any]]) -> None:
    """The request's context id and origin, left on it by the middleware, are rebound."""
    failed = [e for e in trail if e["type"] == "auth_login_failed"]
    assert len(failed) == 1
    assert failed[0]["context_id"] == "outside"
    assert failed[0]["origin"]["client_ip"] == "192.0.2.1"
    assert failed[0]["payload"]["username"] == "nobody"
