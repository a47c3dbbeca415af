"""SQA007: ``commit()``/``flush()`` once per iteration of a ``for`` loop."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
"""


def lines(body: str, path: str = "app/service.py") -> list[int]:
    found = check_source(HEADER + dedent(body), path, select=["SQA007"])
    return [f.line for f in found]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "commit per row": """
        async def load(db: AsyncSession, rows, Model):
            for row in rows:
                db.add(Model(**row))
                await db.commit()  # !
    """,
    "sync session too": """
        def load(db: Session, rows, Model):
            for row in rows:
                db.add(Model(**row))
                db.commit()  # !
    """,
    "rows updated one commit at a time (dispatch migration)": """
        def upgrade(session: Session, incidents, severity):
            for incident in incidents:
                incident.severity = severity
                session.add(incident)
                session.commit()  # !
    """,
    "a pure call in the iteration is no side effect": """
        import datetime
        def mark(db: Session, tasks):
            for task in tasks:
                task.last_reminder_at = datetime.datetime.utcnow()
                db.commit()  # !
    """,
    "range with a step is batches, range(n) over rows is not": """
        async def load(db: AsyncSession, rows, Model):
            for i in range(len(rows)):
                db.add(Model(**rows[i]))
                await db.commit()  # !
    """,
    "inside a with block in the loop": """
        async def load(db: AsyncSession, rows, Model):
            for row in rows:
                with open(row) as handle:
                    db.add(Model(data=handle.read()))
                    await db.commit()  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_commit_per_iteration(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "trailing flush: it ends no transaction (issue 13)": """
        async def load(db: AsyncSession, rows, Model):
            for row in rows:
                db.add(Model(**row))
                await db.flush()
    """,
    "a commit per batch (issue 13)": """
        async def backfill(db: AsyncSession, ids, size, Model):
            for start in range(0, len(ids), size):
                db.add_all(Model(id=i) for i in ids[start : start + size])
                await db.commit()
    """,
    "for batch in batches": """
        def backfill(db: Session, batches):
            for batch in batches:
                db.execute(batch.statement())
                db.commit()
    """,
    "chunk generator": """
        def backfill(db: Session, rows, Model):
            for rows_part in chunked(rows, 500):
                db.add_all(Model(**r) for r in rows_part)
                db.commit()
    """,
    "jobs enqueued after each commit (issue 13)": """
        async def schedule(db: AsyncSession, items, Job, queue):
            for item in items:
                job = Job(item=item)
                db.add(job)
                await db.commit()
                await queue.enqueue(job.id)
    """,
    "a file stored before its row is committed (issue 13)": """
        def upload(db: Session, files, storage, Document):
            for f in files:
                key = storage.upload(f)
                db.add(Document(key=key))
                db.commit()
    """,
    "the session handed to a service that commits (regression: dispatch slack)": """
        def handle(db_session: Session, roles, role_service):
            for role in roles:
                role.activity += 1
                role_service.add_role(db_session=db_session, role=role)
                db_session.commit()
    """,
    "a test-data builder outside tests/ (issue 13)": """
        async def create_test_data(db: AsyncSession, Model):
            for n in [1, 2, 3]:
                db.add(Model(n=n))
                await db.commit()
    """,
    "commit after the loop": """
        async def load(db: AsyncSession, rows, Model):
            for row in rows:
                db.add(Model(**row))
            await db.commit()
    """,
    "batched under an if": """
        async def load(db: AsyncSession, rows, Model):
            for i, row in enumerate(rows):
                db.add(Model(**row))
                if i % 1000 == 0:
                    await db.commit()
    """,
    "flush to get the generated key": """
        async def load(db: AsyncSession, rows, Model, Child):
            for row in rows:
                parent = Model(**row)
                db.add(parent)
                await db.flush()
                db.add(Child(parent_id=parent.id))
            await db.commit()
    """,
    "flush then more work in a try (regression: polar webhook/service.py)": """
        async def send(db: AsyncSession, endpoints, Event, enqueue):
            for endpoint in endpoints:
                try:
                    event = Event(endpoint=endpoint)
                    db.add(event)
                    await db.flush()
                    enqueue(event.id)
                except ValueError:
                    continue
    """,
    "per-item error isolation (regression: advanced-alchemy helpers)": """
        def clean(db: Session, tables, text):
            for table in tables:
                try:
                    db.execute(text(table))
                    db.commit()
                except Exception:
                    db.rollback()
    """,
    "repetition, not rows (regression: polar tests/event)": """
        async def check(db: AsyncSession, service):
            for _ in range(3):
                await service.list(db)
                await db.commit()
    """,
    "retry loop": """
        async def save(db: AsyncSession, obj):
            for attempt in range(3):
                db.add(obj)
                await db.commit()
                break
    """,
    "one session per item on purpose": """
        Session = async_sessionmaker(expire_on_commit=False)
        async def each(items, Model):
            for item in items:
                async with Session() as s:
                    s.add(Model(**item))
                    await s.commit()
    """,
    "while loop worker": """
        async def worker(db: AsyncSession, queue, Model):
            while True:
                msg = await queue.get()
                db.add(Model(**msg))
                await db.commit()
    """,
    "async for over a message stream": """
        async def consume(db: AsyncSession, consumer, Model):
            async for msg in consumer:
                db.add(Model(**msg))
                await db.commit()
    """,
    "unknown receiver": """
        async def load(repo, rows):
            for row in rows:
                await repo.commit()
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_deliberate_code_alone(body: str) -> None:
    assert lines(body) == []


def test_async_for_over_a_session_stream_is_flagged() -> None:
    body = """
        async def touch(db: AsyncSession, stmt):
            async for row in await db.stream_scalars(stmt):
                row.seen = True
                await db.commit()  # !
    """
    assert lines(body) == marked(body)


def test_test_code_is_skipped() -> None:
    assert lines(BAD["commit per row"], "tests/test_load.py") == []


def test_test_data_modules_are_skipped() -> None:
    assert lines(BAD["commit per row"], "app/scripts/create_test_data.py") == []
    assert lines(BAD["commit per row"], "app/seed.py") == []
