"""
An engine per backend (SQLite file, the local PostgreSQL) with the shop's tables of this run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PG_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SUFFIX = uuid.uuid4().hex[:8]


class Base(DeclarativeBase):
    """The shop's models; table names carry this run's suffix (PostgreSQL is shared)."""


class Product(Base):
    """A product: autoincrement key, text, an exact amount, a timestamp, a JSON column."""

    __tablename__ = f"orm_product_{SUFFIX}"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    api_secret: Mapped[str | None] = mapped_column(sa.String(80), default=None)
    tags: Mapped[list[str] | None] = mapped_column(sa.JSON, default=None)
    added: Mapped[datetime | None] = mapped_column(sa.DateTime, default=None)


class Stock(Base):
    """Stock per product and warehouse: a composite primary key."""

    __tablename__ = f"orm_stock_{SUFFIX}"
    product_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    warehouse: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    quantity: Mapped[int] = mapped_column(default=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite file in tmp_path, or the local PostgreSQL; the tables are dropped after."""
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    else:
        eng = sa.create_engine(PG_URL)
        try:
            with eng.connect():
                pass
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    Base.metadata.create_all(eng)
    try:
        yield eng
    finally:
        Base.metadata.drop_all(eng)
        eng.dispose()
