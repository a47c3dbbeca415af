"""The driver-template cache is per dialect object, and forgets a dialect that is gone.

It was keyed by ``id(dialect)``: once a Database was disposed, a later dialect of another
driver could get the same id and read with the first driver's result processors (an
asyncpg UUID handed to psycopg's string-to-UUID processor failed the full suite).
"""

from __future__ import annotations

import gc
import uuid

from sqlalchemy import Uuid, column, select
from sqlalchemy.dialects import postgresql

from sqlops import _templates


def _make(params: list[object]) -> object:
    return select(column("id", Uuid())).where(column("id", Uuid()) == params[0])


def _template(dialect: object) -> _templates.Template:
    types = [Uuid()]
    return _templates.template(dialect, ("unit", "uuid"), types, types, _make)  # type: ignore[arg-type]


def test_each_dialect_object_gets_its_own_templates() -> None:
    asyncpg = postgresql.dialect()  # the same key, compiled for two dialect objects
    psycopg = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    first = _template(asyncpg)
    assert _template(asyncpg) is first
    assert _template(psycopg) is not first


def test_a_dialect_that_is_gone_leaves_nothing_behind() -> None:
    gc.collect()  # the other tests' dialects first
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    template = _template(dialect)
    template.result = (lambda v: uuid.UUID(v),)  # what a string-returning driver learns
    before = len(_templates._templates)
    del dialect
    gc.collect()
    assert len(_templates._templates) == before - 1  # no later dialect can inherit it
