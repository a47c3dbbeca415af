"""SQA009: using a session after a failed flush without ``rollback()``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
from sqlalchemy import exc, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
"""


def lines(body: str) -> list[int]:
    return [f.line for f in check_source(HEADER + dedent(body), select=["SQA009"])]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "a repository method on the session held by self (issue 13)": """
        class Users:
            def __init__(self, session: AsyncSession):
                self.session = session
            async def by_email(self, email):
                return await self.session.scalar(select(1))
            async def create(self, user):
                try:
                    self.session.add(user)
                    await self.session.flush()
                except IntegrityError:
                    return await self.by_email(user.email)  # !
    """,
    "failed commit swallowed, the loop goes on (issue 13)": """
        async def worker(db: AsyncSession, queue, log):
            while True:
                item = await queue.get()
                try:
                    db.add(item)
                    await db.commit()
                except SQLAlchemyError:  # !
                    log.exception("failed")
    """,
    "broad except around commits in a for loop (issue 13)": """
        def sync_all(db: Session, rows, log):
            for row in rows:
                try:
                    db.merge(row)
                    db.commit()
                except Exception:  # !
                    log.warning("skipped %s", row)
    """,
    "get-or-create fallback": """
        async def get_or_create(db: AsyncSession, User, email):
            try:
                db.add(User(email=email))
                await db.flush()
            except IntegrityError:
                return await db.scalar(select(User).where(User.email == email))  # !
    """,
    "session passed to a helper (regression: polar transaction/service/payment.py)": """
        async def create(db: AsyncSession, tx, find):
            db.add(tx)
            try:
                await db.flush()
            except IntegrityError:
                existing = await find(db, tx.charge_id)  # !
                return existing
    """,
    "merge after a unique violation (regression: grillazz models/base.py)": """
        class Base:
            async def save_or_update(self, db_session: AsyncSession):
                try:
                    db_session.add(self)
                    await db_session.flush()
                except IntegrityError:
                    return await db_session.merge(self)  # !
    """,
    "DBAPIError through the exc module, sync session": """
        def save(db: Session, obj):
            try:
                db.add(obj)
                db.commit()
            except (ValueError, exc.DBAPIError):
                db.execute(select(1))  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_use_without_rollback(body: str) -> None:
    assert lines(body) == marked(body)


def test_fix_for_sync_session_has_no_await() -> None:
    (finding,) = check_source(
        HEADER + dedent(BAD["DBAPIError through the exc module, sync session"])
    )
    assert finding.fix.startswith("call `db.rollback()` first")


GOOD = {
    "loop handler rolls back": """
        async def worker(db: AsyncSession, queue, log):
            while True:
                item = await queue.get()
                try:
                    db.add(item)
                    await db.commit()
                except SQLAlchemyError:
                    await db.rollback()
                    log.exception("failed")
    """,
    "loop handler leaves the loop": """
        def sync_all(db: Session, rows, log):
            for row in rows:
                try:
                    db.merge(row)
                    db.commit()
                except Exception:
                    log.warning("stopping")
                    raise
    """,
    "a fresh session per iteration": """
        from sqlalchemy.ext.asyncio import async_sessionmaker
        Maker = async_sessionmaker(expire_on_commit=False)
        async def worker(queue, log):
            while True:
                item = await queue.get()
                async with Maker() as db:
                    try:
                        db.add(item)
                        await db.commit()
                    except Exception:
                        log.exception("failed")
    """,
    "broad except around non-database work in a loop": """
        async def worker(db: AsyncSession, items, send, log):
            for item in items:
                try:
                    await send(item)
                except Exception:
                    log.exception("failed")
            await db.commit()
    """,
    "rollback first": """
        async def get_or_create(db: AsyncSession, User, email):
            try:
                db.add(User(email=email))
                await db.flush()
            except IntegrityError:
                await db.rollback()
                return await db.scalar(select(User).where(User.email == email))
    """,
    "savepoint block": """
        async def get_or_create(db: AsyncSession, User, email):
            try:
                async with db.begin_nested():
                    db.add(User(email=email))
            except IntegrityError:
                return await db.scalar(select(User).where(User.email == email))
    """,
    "savepoint handle rolled back (regression: polar organization/service.py)": """
        async def add_member(db: AsyncSession, relation, stmt):
            nested = await db.begin_nested()
            try:
                db.add(relation)
                await db.flush()
            except IntegrityError:
                await nested.rollback()
                await db.execute(stmt)
    """,
    "begin() block rolled back": """
        async def create(db: AsyncSession, obj, stmt):
            try:
                async with db.begin():
                    db.add(obj)
            except IntegrityError:
                await db.execute(stmt)
    """,
    "handler only raises": """
        async def create(db: AsyncSession, obj):
            try:
                db.add(obj)
                await db.commit()
            except IntegrityError as error:
                raise ValueError("exists") from error
    """,
    "other session in the handler": """
        async def create(db: AsyncSession, other: AsyncSession, obj, stmt):
            try:
                await db.commit()
            except IntegrityError:
                await other.execute(stmt)
    """,
    "add() is not I/O": """
        async def create(db: AsyncSession, obj, log):
            try:
                await db.flush()
            except IntegrityError:
                log(db.in_transaction())
    """,
    "unrelated exception": """
        async def create(db: AsyncSession, obj, stmt):
            try:
                await db.flush()
            except KeyError:
                await db.execute(stmt)
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []
