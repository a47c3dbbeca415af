"""Lead a constraint name from a server error back to its table and columns.

A model without a naming convention leaves naming to the server: PostgreSQL calls a unique
key ``users_email_key`` and a CHECK ``users_age_check``, MariaDB names a unique key after
its first column (``email``, then ``email_2``) and a CHECK ``CONSTRAINT_1``, SQLite names
nothing and quotes the CHECK's text instead. This module derives those names from the
metadata the way each server chooses them, so an error's constraint name finds its columns
without a catalog query (which PostgreSQL would refuse inside the aborted transaction the
error left behind).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
)
from sqlalchemy.sql import visitors

PG_MAX_NAME = 63  # NAMEDATALEN - 1


@dataclass(frozen=True)
class Known:
    """One constraint of a metadata table: its kind, columns and name on the server."""

    table: Table
    kind: str  # "primary", "unique", "foreign", "check"
    columns: tuple[str, ...]
    declared: str | None  # the name in the metadata, if the model gave one
    text: str = ""  # a CHECK's SQL text, normalized
    column_level: bool = False  # a CHECK declared on its column


_cache: weakref.WeakKeyDictionary[Table, dict[str, dict[str, Known]]] = weakref.WeakKeyDictionary()


def server_names(table: Table, dialect: str) -> dict[str, Known]:
    """Every constraint of ``table`` under each name ``dialect``'s server may give it."""
    per_table = _cache.setdefault(table, {})
    names = per_table.get(dialect)
    if names is None:
        names = per_table[dialect] = dict(_names(table, dialect))
    return names


def server_name(known: Known, dialect: str) -> str | None:
    """The name ``dialect``'s server knows ``known`` by (its declared one, if any)."""
    for name, item in server_names(known.table, dialect).items():
        if item is known:
            return name
    return None


def find(
    tables: Iterable[Table], dialect: str, name: str, table: str | None, schema: str | None
) -> Known | None:
    """The constraint called ``name`` (on ``table`` in ``schema``, when the server said)."""
    for t in matching(tables, table, schema):
        known = server_names(t, dialect).get(name)
        if known is not None:
            return known
    return None


def for_columns(
    tables: Iterable[Table], table: str, schema: str | None, columns: tuple[str, ...], kind: str
) -> Known | None:
    """The ``kind`` constraint of ``table`` over exactly ``columns`` (any order)."""
    wanted = set(columns)
    for t in matching(tables, table, schema):
        for known in constraints(t):
            if known.kind == kind and set(known.columns) == wanted:
                return known
    return None


def check_by_text(tables: Iterable[Table], text: str) -> Known | None:
    """The unnamed CHECK whose SQL text is ``text`` (how SQLite reports one)."""
    wanted = normalize(text)
    for t in tables:
        for known in constraints(t):
            if known.kind == "check" and known.text == wanted:
                return known
    return None


def check_on_column(tables: Iterable[Table], column: str) -> Known | None:
    """The one unnamed CHECK that involves ``column`` (SQLite names some CHECKs so)."""
    found = [
        k
        for t in tables
        for k in constraints(t)
        if k.kind == "check" and not k.declared and column in k.columns
    ]
    return found[0] if len(found) == 1 else None


def matching(tables: Iterable[Table], table: str | None, schema: str | None) -> Iterator[Table]:
    """``tables`` named ``table`` (any, if None) in ``schema`` (a default one matches)."""
    for t in tables:
        if table is not None and t.name != table:
            continue
        if schema is not None and t.schema is not None and t.schema != schema:
            continue
        yield t


def normalize(sql: str) -> str:
    """SQL text without quoting, case or spacing, for comparing a CHECK's text."""
    return re.sub(r"[\s\"`\[\]()]", "", sql).lower()


# ----------------------------------------------------------------------------- metadata


def constraints(table: Table) -> list[Known]:
    """The table's constraints in the order CREATE TABLE declares them (SQLAlchemy's)."""
    per_table = _constraints.get(table)
    if per_table is None:
        per_table = _constraints[table] = _collect(table)
    return per_table


_constraints: weakref.WeakKeyDictionary[Table, list[Known]] = weakref.WeakKeyDictionary()


def _collect(table: Table) -> list[Known]:
    out: list[Known] = []
    pk = table.primary_key
    if pk.columns:
        out.append(Known(table, "primary", _cols(pk), _name(pk.name)))
    ordered = sorted(table.constraints, key=lambda c: getattr(c, "_creation_order", 0))
    for cons in ordered:
        if isinstance(cons, PrimaryKeyConstraint):
            continue
        if isinstance(cons, UniqueConstraint):
            out.append(Known(table, "unique", _cols(cons), _name(cons.name)))
        elif isinstance(cons, ForeignKeyConstraint):
            out.append(Known(table, "foreign", _cols(cons), _name(cons.name)))
        elif isinstance(cons, CheckConstraint):
            out.append(_check(table, cons))
    for column in table.columns:
        for cons in column.constraints:
            if isinstance(cons, CheckConstraint):
                out.append(_check(table, cons, column))
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if index.unique:
            out.append(Known(table, "unique", _cols(index), _name(index.name)))
    return out


def _cols(cons: Any) -> tuple[str, ...]:
    return tuple(c.name for c in cons.columns)


def _name(name: Any) -> str | None:
    return str(name) if name is not None else None


def _check(table: Table, cons: CheckConstraint, column: Column[Any] | None = None) -> Known:
    text = _sql_text(cons.sqltext)
    names = tuple(
        dict.fromkeys(el.name for el in visitors.iterate(cons.sqltext) if isinstance(el, Column))
    )
    if not names:  # a text() check: the columns whose names it mentions
        names = tuple(
            c.name for c in table.columns if re.search(rf"(?<!\w){re.escape(c.name)}(?!\w)", text)
        )
    return Known(table, "check", names, _name(cons.name), normalize(text), column is not None)


def _sql_text(clause: Any) -> str:
    """A CHECK's SQL as DDL writes it (``"Age" >= 0``, not ``"Age" >= :param_1``)."""
    try:
        return str(clause.compile(compile_kwargs={"literal_binds": True}))
    except Exception:  # a clause that cannot render its values inline
        return str(clause)


# ----------------------------------------------------------------------------- per server


def _names(table: Table, dialect: str) -> Iterator[tuple[str, Known]]:
    known = constraints(table)
    for item in known:
        if item.declared:
            yield item.declared, item
    if dialect == "postgresql":
        yield from _postgresql_names(table, known)
    elif dialect == "mysql":
        yield from _mysql_names(table, known)


def _postgresql_names(table: Table, known: list[Known]) -> Iterator[tuple[str, Known]]:
    """``users_pkey``, ``users_email_key``, ``users_team_id_fkey``, ``users_age_check``."""
    used: set[str] = {k.declared for k in known if k.declared}
    labels = {"primary": "pkey", "unique": "key", "foreign": "fkey", "check": "check"}
    for item in known:
        if item.declared:
            continue
        label = labels[item.kind]
        if item.kind == "primary":
            middle = None
        elif item.kind == "check":
            middle = item.columns[0] if len(item.columns) == 1 else None
        else:
            middle = "_".join(item.columns)
        name = _pg_object_name(table.name, middle, label)
        number = 0
        while name in used:  # PostgreSQL appends a number to a name already taken
            number += 1
            name = _pg_object_name(table.name, middle, f"{label}{number}")
        used.add(name)
        yield name, item


def _pg_object_name(name1: str, name2: str | None, label: str) -> str:
    """PostgreSQL's ``makeObjectName``: shorten the longer part until the name fits."""
    overhead = len(label) + 1 + (1 if name2 is not None else 0)
    available = PG_MAX_NAME - overhead
    n1, n2 = len(name1.encode()), len(name2.encode()) if name2 is not None else 0
    while n1 + n2 > available:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    parts = [_clip(name1, n1)] + ([_clip(name2, n2)] if name2 is not None else [])
    return "_".join([*parts, label])


def _clip(text: str, size: int) -> str:
    return text.encode()[:size].decode(errors="ignore")


def _mysql_names(table: Table, known: list[Known]) -> Iterator[tuple[str, Known]]:
    """MariaDB and MySQL: ``PRIMARY``, unique keys after their first column (``email_2``),
    CHECKs ``CONSTRAINT_1`` (MariaDB table level), the column's name (MariaDB column level)
    or ``users_chk_1`` (MySQL 8); foreign keys ``users_ibfk_1``."""
    used = {"PRIMARY"} | {k.declared for k in known if k.declared and k.kind == "unique"}
    check_names = {k.declared for k in known if k.declared and k.kind == "check"}
    numbers = {"fk": 0, "mariadb_check": 0, "mysql_check": 0}
    for item in known:
        if item.kind == "primary":
            yield "PRIMARY", item
            continue
        if item.declared:
            continue
        if item.kind == "unique" and item.columns:
            name, suffix = item.columns[0], 1
            while name in used:
                suffix += 1
                name = f"{item.columns[0]}_{suffix}"
            used.add(name)
            yield name, item
        elif item.kind == "foreign":
            numbers["fk"] += 1
            yield f"{table.name}_ibfk_{numbers['fk']}", item
        elif item.kind == "check":
            numbers["mysql_check"] += 1
            yield f"{table.name}_chk_{numbers['mysql_check']}", item
            if item.column_level and item.columns:
                yield item.columns[0], item
            else:
                name = ""
                while not name or name in check_names:
                    numbers["mariadb_check"] += 1
                    name = f"CONSTRAINT_{numbers['mariadb_check']}"
                yield name, item
