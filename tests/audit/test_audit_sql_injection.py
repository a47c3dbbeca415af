"""SQA005: run-time values pasted into SQL inside ``text()``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
import enum
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
"""


def lines(body: str, path: str = "app/queries.py") -> list[int]:
    found = check_source(HEADER + dedent(body), path, select=["SQA005"])
    return [f.line for f in found]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "helper fed a run-time value": """
        def q(column, request):
            return text(f"UPDATE t SET x = {_expr(column, request.args['v'])}")  # !
    """,
    "loop over run-time values": """
        def q(conn, prefixes):
            for table, prefix in prefixes.items():
                conn.execute(text(f"UPDATE {table} SET id = '{prefix}' || id"))  # !
    """,
    "conditional with a run-time branch": """
        def q(flag, value):
            return text(f"SELECT * FROM t WHERE x = {'all' if flag else value}")  # !
    """,
    "str-typed parameter": """
        def q(name: str):
            return text(f"SELECT * FROM users WHERE name = '{name}'")  # !
    """,
    "a helper that does not quote": """
        def q(value):
            return text(f"SELECT * FROM t WHERE x = {format_value(value)}")  # !
    """,
    "variable assigned a run-time value": """
        def q(request):
            wanted = request.query["id"]
            return text(f"SELECT * FROM t WHERE id = {wanted}")  # !
    """,
    "class attribute that is not a constant": """
        class Search:
            threshold = compute()
            @classmethod
            def q(cls):
                return text(f"SET similarity = {cls.threshold}")  # !
    """,
    "f-string value in quotes": """
        def q(email):
            return text(f"SELECT * FROM users WHERE email = '{email}'")  # !
    """,
    "f-string value after =": """
        def q(user_id):
            return text(f"SELECT * FROM users WHERE id = {user_id}")  # !
    """,
    "percent formatting": """
        def q(name):
            return sa.text("SELECT * FROM users WHERE name = '%s'" % name)  # !
    """,
    "concatenation": """
        def q(name):
            return text("SELECT * FROM users WHERE name = '" + name + "'")  # !
    """,
    "format()": """
        def q(name):
            return text("SELECT * FROM users WHERE name LIKE '{}%'".format(name))  # !
    """,
    "built in a variable first": """
        async def q(db: AsyncSession, ids):
            sql = f"DELETE FROM users WHERE id IN ({ids})"
            await db.execute(text(sql))  # !
    """,
    "VALUES list": """
        def q(a, b):
            return text(f"INSERT INTO t (a, b) VALUES (1, {b})")  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_values_pasted_into_sql(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "bind parameters": """
        def q(email):
            return text("SELECT * FROM users WHERE email = :email").bindparams(email=email)
    """,
    "constant interpolation": """
        LIMIT = 10
        def q():
            return text(f"SELECT * FROM users LIMIT {LIMIT}")
    """,
    "numbers": """
        def q(rows):
            return text(f"SELECT * FROM users WHERE id = {int(rows[0])}")
    """,
    "identifier after FROM": """
        def q(name):
            return text(f"SELECT count(*) FROM {name}")
    """,
    "quoted identifier": """
        def q(table):
            return text(f'DELETE FROM "{table}"')
    """,
    "whole fragment": """
        def q(where):
            return text(f"SELECT * FROM organizations WHERE {where}")
    """,
    "role name in GRANT (regression: polar scripts/db.py)": """
        def q(read_user):
            return text(f"GRANT USAGE ON SCHEMA public TO {read_user}")
    """,
    "identifier-named value in quotes (regression: advanced-alchemy helpers)": """
        def q(table):
            return text(f"DBCC CHECKIDENT('{table}', RESEED, 0)")
    """,
    "column.name from metadata (regression: advanced-alchemy types/json.py)": """
        def q(column):
            return text(f"{column.name} is json")
    """,
    "enum member (regression: polar kit/time_queries.py)": """
        class TimeInterval(enum.StrEnum):
            day = "day"
            def sql_interval(self):
                return text(f"'1 {self.value}'::interval")
    """,
    "enum-typed parameter (regression: polar webhook/service.py)": """
        class EventType(enum.StrEnum):
            created = "created"
        def q(event: EventType):
            return text(f"'[\\"{event}\\"]'")
    """,
    "quoting helper (issue 13)": """
        def q(conn, value):
            return text(f"SELECT * FROM t WHERE x = {conn.dialect.quote_literal(value)}")
    """,
    "quoted through a variable": """
        def q(value):
            quoted = escape_string(value)
            return text(f"SELECT * FROM t WHERE x = '{quoted}'")
    """,
    "conditional between literals (issue 13)": """
        def q(flag):
            return text(f"SELECT * FROM t WHERE active = {'true' if flag else 'false'}")
    """,
    "quoted column reference after = (issue 13)": """
        def q(column):
            return text(f'UPDATE t SET "{column}" = "{column}" || :suffix')
    """,
    "qualified column after =": """
        def q(alias, other):
            return text(f"SELECT * FROM a JOIN b ON a.id = {alias}.id")
    """,
    "numeric-typed parameter": """
        def q(limit: int, ratio: float | None):
            return text(f"SELECT * FROM t WHERE r > {ratio} LIMIT {limit}")
    """,
    "class constant (regression: mealie fuzzy search)": """
        from typing import ClassVar
        class Search:
            _threshold: ClassVar[float] = 0.5
            @classmethod
            def q(cls):
                return text(f"set pg_trgm.word_similarity_threshold = {cls._threshold};")
    """,
    "placeholder list in a variable (regression: mealie migration)": """
        def q(data):
            columns = ", ".join(data.keys())
            placeholders = ", ".join(f":{key}" for key in data.keys())
            return text(f"INSERT INTO households ({columns}) VALUES ({placeholders})")
    """,
    "helper building SQL from constants (regression: tracecat migration)": """
        KEYS = ("a", "b")
        def q():
            expr = _jsonb_remove_expr("entitlements", KEYS)
            return text(f"UPDATE tier SET entitlements = {expr}")
    """,
    "loop over a literal mapping (regression: tracecat migration)": """
        def q(conn):
            prefixes = {"workflow": "wf-", "schedule": "sch-"}
            for table, prefix in prefixes.items():
                conn.execute(text(f"UPDATE {table} SET id_old = '{prefix}' || id"))
    """,
    "a UUID by name (regression: tracecat tables)": """
        class Tables:
            def default(self):
                return text(f"'{self.ws_uuid}'::uuid")
    """,
    "generated placeholders": """
        def q(ids):
            marks = ", ".join(f":p{i}" for i in range(len(ids)))
            return text(f"SELECT * FROM t WHERE id IN ({', '.join(f':p{i}' for i in ids)})")
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_safe_sql_alone(body: str) -> None:
    assert lines(body) == []


def test_text_from_another_library_is_not_sql() -> None:
    source = "from myapp.ui import text\ndef q(name):\n    return text(f\"a = '{name}'\")\n"
    assert check_source(source, select=["SQA005"]) == []


def test_test_code_is_skipped() -> None:
    body = BAD["f-string value after ="]
    assert lines(body, "tests/test_queries.py") == []
    assert lines(body, "app/queries.py") == marked(body)
