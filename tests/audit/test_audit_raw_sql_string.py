"""SQA004: plain strings handed to ``execute()``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
import sqlite3
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
"""


def lines(body: str) -> list[int]:
    return [f.line for f in check_source(HEADER + dedent(body), select=["SQA004"])]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "literal on AsyncSession": """
        async def ping(db: AsyncSession):
            await db.execute("SELECT 1")  # !
    """,
    "f-string on a sync Session": """
        def count(db: Session, table):
            return db.scalar(f"SELECT count(*) FROM {table}")  # !
    """,
    "string variable": """
        async def ping(db: AsyncSession):
            sql = "SELECT 1"
            await db.execute(sql)  # !
    """,
    "module constant": """
        PING = "SELECT 1"
        async def ping(db: AsyncSession):
            await db.execute(PING)  # !
    """,
    "sync engine connection": """
        engine = create_engine("sqlite://")
        def ping():
            with engine.connect() as conn:
                conn.execute("SELECT 1")  # !
    """,
    "statement keyword": """
        async def ping(db: AsyncSession):
            await db.execute(statement="SELECT 1")  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_string_statements(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "wrapped in text()": """
        async def ping(db: AsyncSession):
            await db.execute(text("SELECT 1"))
    """,
    "DB-API cursor takes strings": """
        def ping():
            conn = sqlite3.connect(":memory:")
            conn.execute("SELECT 1")
            conn.cursor().execute("SELECT 1")
    """,
    "asyncpg-style connection of unknown kind": """
        async def ping(conn):
            await conn.execute("SELECT 1")
    """,
    "exec_driver_sql takes strings": """
        engine = create_engine("sqlite://")
        def ping():
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
    """,
    "a select() object": """
        async def users(db: AsyncSession, stmt):
            await db.execute(stmt)
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []
