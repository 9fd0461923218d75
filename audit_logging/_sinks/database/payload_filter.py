"""
SQL conditions on payload fields, one spelling per dialect, for ``query --where``.

The meaning (which JSON values a ``key=value`` filter matches) is defined once in
:mod:`audit_logging._model.fieldpath`; here it is written in each dialect's JSON
functions. The key was validated there (a dotted identifier path); the path and
the values are still bound parameters, never SQL text:

- PostgreSQL: ``<jsonb> @> CAST(:doc AS JSONB)``, one containment document per
  candidate (``{"user": {"id": "u1"}}``), ORed. ``@>`` is what a GIN index on the
  JSONB column (``jsonb_path_ops``) serves. ``<jsonb>`` is ``payload_json``, or the
  same expression on ``payload`` for a table that lacks it (no index then).
- SQLite: ``json_type(payload, :path)`` picks the JSON type and
  ``json_extract(payload, :path)`` the value (``$.user.id``).
- MySQL/MariaDB: ``JSON_TYPE(JSON_EXTRACT(payload, :path))`` and
  ``JSON_UNQUOTE(...)``, compared under ``utf8mb4_bin`` so ``U1`` does not match
  ``u1`` (the connection's default collation is case-insensitive), and by length,
  because ``utf8mb4_bin`` ignores trailing spaces (``'u1 ' = 'u1'``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as sa_pg

from audit_logging._model.fieldpath import FieldFilter
from audit_logging._sinks.database.jsonb import PAYLOAD_JSON_SQL

__all__ = ["payload_condition"]


def payload_condition(
    table: sa.Table, dialect: str, field: FieldFilter, json_column: str | None = None
) -> Any:
    """
    The condition "the payload of the row matches ``field``" for ``dialect``.

    ``json_column`` names the table's JSONB column on PostgreSQL (see
    :func:`~audit_logging._sinks.database.jsonb.json_column`).

    Raises:
        ValueError: the dialect has no JSON functions we use.
    """
    if dialect == "postgresql":
        return _postgresql(field, json_column)
    path = "$." + ".".join(field.path)
    if dialect == "sqlite":
        return _sqlite(table, field, path)
    if dialect in ("mysql", "mariadb"):
        return _mysql(table, field, path)
    raise ValueError(f"payload filters need PostgreSQL, MySQL/MariaDB or SQLite, not {dialect}")


def _postgresql(field: FieldFilter, json_column: str | None) -> Any:
    doc: Any = (
        sa.column(json_column, sa_pg.JSONB)
        if json_column is not None
        else sa.literal_column(f"({PAYLOAD_JSON_SQL})", sa_pg.JSONB)
    )
    # JSONB cannot hold "\u0000": such a value matches nothing (its rows have a NULL
    # payload_json), and must not reach the server, which would refuse the query.
    return sa.or_(
        sa.false(),
        *(
            doc.op("@>")(sa.bindparam(None, field.nested(c), type_=sa_pg.JSONB))
            for c in field.candidates
            if not (isinstance(c, str) and "\x00" in c)
        ),
    )


def _sqlite(table: sa.Table, field: FieldFilter, path: str) -> Any:
    payload = table.c.payload
    kind = sa.func.json_type(payload, sa.bindparam(None, path))
    value = sa.func.json_extract(payload, sa.bindparam(None, path))
    options = []
    for c in field.candidates:
        if isinstance(c, str):
            options.append(sa.and_(kind == "text", value == sa.bindparam(None, c)))
        elif c is None:
            options.append(kind == "null")
        elif isinstance(c, bool):
            options.append(kind == ("true" if c else "false"))
        else:
            options.append(sa.and_(kind.in_(["integer", "real"]), value == sa.bindparam(None, c)))
    return sa.or_(*options)


def _mysql(table: sa.Table, field: FieldFilter, path: str) -> Any:
    extracted = sa.func.json_extract(table.c.payload, sa.bindparam(None, path))
    kind = sa.func.json_type(extracted)
    text = sa.collate(sa.func.json_unquote(extracted), "utf8mb4_bin")
    options = []
    for c in field.candidates:
        if isinstance(c, str):
            value: sa.BindParameter[str] = sa.bindparam(None, c)
            options.append(
                sa.and_(
                    kind == "STRING",
                    text == sa.collate(value, "utf8mb4_bin"),
                    # utf8mb4_bin pads: 'u1 ' = 'u1'. Equal lengths make it exact.
                    sa.func.char_length(text) == sa.func.char_length(value),
                )
            )
        elif c is None:
            options.append(kind == "NULL")
        elif isinstance(c, bool):
            options.append(sa.and_(kind == "BOOLEAN", text == ("true" if c else "false")))
        else:
            number = sa.type_coerce(sa.func.json_unquote(extracted), sa.Float)
            options.append(
                sa.and_(kind.in_(["INTEGER", "DOUBLE"]), number == sa.bindparam(None, c))
            )
    return sa.or_(*options)
