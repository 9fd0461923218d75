"""
instrument_session against SQLite and PostgreSQL: commit publishes the diffs with the actor
bound when the change was flushed, rollback publishes nothing, a rolled-back savepoint drops
only its own changes, and the listeners leave when removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from audit_logging.bus import Bus
from audit_logging.context import Actor, bind_actor, bind_context_id
from audit_logging.contrib.sqlalchemy import instrument_session
from tests._helpers import Recorder
from tests.instrument.sqlalchemy.conftest import Product, Stock

ALICE = Actor(user_id="7", username="alice", auth_method="session")


@pytest.fixture
def factory(engine: sa.Engine, bus: Bus) -> Iterator[sessionmaker[Session]]:
    """A sessionmaker instrumented on the test's bus (detached after)."""
    maker = sessionmaker(engine)
    handle = instrument_session(maker, bus, source="shop-db")
    yield maker
    handle.remove()


def _changes(rec: Recorder) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (e.type, e.payload["model"], e.payload["record_id"], e.payload["changes"])
        for e in rec.events
        if e.type.startswith("record_")
    ]


def test_commit_publishes_create_update_delete_with_diffs(
    factory: sessionmaker[Session], rec: Recorder
) -> None:
    """Each committed change is one event: all loaded fields on create, only the diff on update."""
    when = datetime(2026, 12, 3, 12, 0, 0)
    with factory() as session, bind_actor(ALICE), bind_context_id("req-1"):
        session.add(Product(name="mug", price=Decimal("9.99"), tags=["kitchen"], added=when))
        session.commit()
    assert len(rec.events) == 1
    created = rec.events[0]
    assert created.type == "record_created"
    assert created.source == "shop-db"
    assert created.actor == ALICE
    assert created.context_id == "req-1"
    pid = created.payload["record_id"]
    assert pid.isdigit()
    # api_secret was never set (a None default is not written into the object): not loaded.
    assert created.payload["changes"] == {
        "id": [None, int(pid)],
        "name": [None, "mug"],
        "price": [None, "9.99"],
        "tags": [None, ["kitchen"]],
        "added": [None, "2026-12-03T12:00:00"],
    }

    with factory() as session, bind_actor(user_id="8", username="bob"):
        product = session.get(Product, int(pid))
        assert product is not None
        product.price = Decimal("19.99")
        product.name = "mug"  # the same value: not a change
        session.commit()
    with factory() as session:
        session.delete(session.get(Product, int(pid)))
        session.commit()
    assert _changes(rec)[1:] == [
        ("record_updated", "Product", pid, {"price": ["9.99", "19.99"]}),
        (
            "record_deleted",
            "Product",
            pid,
            {
                "id": [int(pid), None],
                "name": ["mug", None],
                "price": ["19.99", None],
                "api_secret": "****",  # the bus sanitizer masks secret-looking fields
                "tags": [["kitchen"], None],
                "added": ["2026-12-03T12:00:00", None],
            },
        ),
    ]
    assert rec.events[1].actor == Actor(user_id="8", username="bob")
    assert rec.events[2].actor is None
    for e in rec.events:
        e.to_json_bytes()  # JSON-safe all the way


def test_rollback_publishes_nothing(factory: sessionmaker[Session], rec: Recorder) -> None:
    """Flushed, then rolled back (or closed without commit): the trail gets nothing."""
    with factory() as session:
        session.add(Product(name="ghost", price=Decimal("1.00")))
        session.flush()
        session.rollback()
    with factory() as session:
        session.add(Product(name="ghost", price=Decimal("1.00")))
        session.flush()  # then the session closes without commit
    with factory() as session:
        assert session.scalars(sa.select(Product)).all() == []
    assert rec.events == []


def test_savepoint_rollback_drops_only_its_part(
    factory: sessionmaker[Session], rec: Recorder
) -> None:
    """Changes inside a rolled-back savepoint vanish; before and after it they are published."""
    with factory() as session:
        session.add(Product(name="before", price=Decimal("1")))
        savepoint = session.begin_nested()
        session.add(Product(name="inside", price=Decimal("2")))
        session.flush()
        savepoint.rollback()
        with session.begin_nested():  # released: joins the outer transaction
            session.add(Product(name="kept", price=Decimal("3")))
        session.add(Product(name="after", price=Decimal("4")))
        assert rec.events == []  # nothing before the commit
        session.commit()
    names = [c[3]["name"][1] for c in _changes(rec)]
    assert names == ["before", "kept", "after"]
    with factory() as session:
        stored = session.scalars(sa.select(Product.name).order_by(Product.id)).all()
    assert stored == names


def test_released_savepoint_of_a_rolled_back_transaction_is_dropped(
    factory: sessionmaker[Session], rec: Recorder
) -> None:
    """A savepoint released into a transaction that then rolls back is not published."""
    with factory() as session:
        with session.begin_nested():
            session.add(Product(name="nested", price=Decimal("1")))
        session.rollback()
    assert rec.events == []


def test_failed_flush_then_rollback_and_a_new_commit(
    factory: sessionmaker[Session], rec: Recorder
) -> None:
    """An IntegrityError's transaction publishes nothing; the next transaction publishes."""
    with factory() as session:
        session.add(Product(name="dup", price=Decimal("1")))
        session.commit()
    rec.events.clear()
    with factory() as session:
        session.add(Product(name="first", price=Decimal("1")))
        session.flush()
        session.add(Product(name="dup", price=Decimal("1")))
        with pytest.raises(sa.exc.IntegrityError):
            session.flush()
        session.rollback()
        session.add(Product(name="second", price=Decimal("1")))
        session.commit()
    assert [c[3]["name"][1] for c in _changes(rec)] == ["second"]


def test_actor_is_the_one_bound_at_flush(factory: sessionmaker[Session], rec: Recorder) -> None:
    """The actor of each change is the one bound when it was flushed, not at commit."""
    with factory() as session:
        with bind_actor(user_id="a"):
            session.add(Product(name="by-a", price=Decimal("1")))
            session.flush()
        with bind_actor(user_id="b"):
            session.add(Product(name="by-b", price=Decimal("1")))
        with bind_actor(user_id="committer"):
            session.commit()  # flushes by-b here
    assert [e.actor.user_id for e in rec.events] == ["a", "committer"]


def test_composite_key_models_and_fields(engine: sa.Engine, bus: Bus, rec: Recorder) -> None:
    """models= limits the classes, exclude/include the fields; composite keys join with ','."""
    maker = sessionmaker(engine)
    handle = instrument_session(maker, bus, models=[Stock], include=["quantity", "Stock.warehouse"])
    other = instrument_session(maker, bus, source="products", exclude=["api_secret", "tags"])
    try:
        with maker() as session:
            session.add(Product(name="tea", price=Decimal("2.50"), api_secret="s3cr3t"))
            session.add(Stock(product_id=1, warehouse="north", quantity=5))
            session.commit()
    finally:
        handle.remove()
        other.remove()
    stock = [e for e in rec.events if e.source == "sqlalchemy"]
    assert [(e.payload["model"], e.payload["record_id"]) for e in stock] == [("Stock", "1,north")]
    assert stock[0].payload["changes"] == {"warehouse": [None, "north"], "quantity": [None, 5]}
    product, _ = [e for e in rec.events if e.source == "products"]
    assert product.payload["model"] == "Product"
    assert set(product.payload["changes"]) == {"id", "name", "price"}  # never read: api_secret


def test_a_session_instance_and_remove(engine: sa.Engine, bus: Bus, rec: Recorder) -> None:
    """One Session can be instrumented alone; after remove() nothing more is published."""
    session = Session(engine)
    handle = instrument_session(session, bus)
    session.add(Product(name="one", price=Decimal("1")))
    session.commit()
    handle.remove()
    session.add(Product(name="two", price=Decimal("1")))
    session.commit()
    session.close()
    assert [c[3]["name"][1] for c in _changes(rec)] == ["one"]


def test_bad_field_names_are_refused(bus: Bus) -> None:
    """include/exclude take collections of names; a bare string is a mistake."""
    with pytest.raises(TypeError, match="collection"):
        instrument_session(sessionmaker(), bus, exclude="password")
    with pytest.raises(ValueError, match="engine"):
        instrument_session(sessionmaker(), bus, statements=True)


def test_inside_a_flask_request_the_change_carries_the_request(
    engine: sa.Engine, bus: Bus, rec: Recorder
) -> None:
    """A view that commits: the record event has the logged-in actor, origin and context id."""
    pytest.importorskip("flask_login")
    from flask import request

    from tests.instrument._flask_shop import create_app

    maker = sessionmaker(engine)
    handle = instrument_session(maker, bus, source="shop-db")
    app = create_app(bus)

    @app.post("/products")
    def add_product() -> str:
        with maker() as session:
            session.add(Product(name=request.form["name"], price=Decimal(request.form["price"])))
            session.commit()
        return "added"

    client = app.test_client()
    try:
        client.post("/login", data={"username": "alice", "password": "wonderland"}).close()
        rec.events.clear()
        with client.post(
            "/products", data={"name": "kettle", "price": "24.50"}, headers={"X-Request-ID": "r-9"}
        ) as response:
            assert response.status_code == 200
    finally:
        handle.remove()
    (created,) = rec.of_type("record_created")
    assert created.context_id == "r-9"
    assert created.actor == Actor(user_id="1", username="alice", auth_method="session")
    assert created.origin is not None
    assert (created.origin.method, created.origin.path) == ("POST", "/products")
    assert created.payload["changes"]["price"] == [None, "24.50"]
    assert {e.context_id for e in rec.events} == {"r-9"}


def test_committed_changes_reach_a_file_sink(engine: sa.Engine, tmp_path: Any) -> None:
    """Through a real async bus and the file sink: one line per committed change, none else."""
    import json

    from audit_logging.sinks.file import RotatingJSONFileHandler

    trail = tmp_path / "trail.jsonl"
    bus = Bus(lifecycle_events=False)
    bus.subscribe("*", RotatingJSONFileHandler(trail), name="file")
    maker = sessionmaker(engine)
    handle = instrument_session(maker, bus)
    try:
        with maker() as session, bind_actor(ALICE):
            session.add(Product(name="saved", price=Decimal("5.00"), added=datetime(2026, 1, 1)))
            session.commit()
            session.add(Product(name="undone", price=Decimal("6.00")))
            session.flush()
            session.rollback()
    finally:
        handle.remove()
        bus.close()
    lines = [json.loads(line) for line in trail.read_text(encoding="utf-8").splitlines()]
    assert [(x["type"], x["payload"]["changes"]["name"]) for x in lines] == [
        ("record_created", [None, "saved"])
    ]
    assert lines[0]["actor"] == ALICE.to_dict()
    assert lines[0]["payload"]["changes"]["added"] == [None, "2026-01-01T00:00:00"]
