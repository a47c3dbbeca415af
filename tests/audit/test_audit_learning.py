"""Learning with flat memory: recorded steps are replayed only when what they read is unchanged."""

from __future__ import annotations

from pathlib import Path

from sqlops.audit import check_source
from sqlops.audit._engine import _check, _parse, audit, iter_files, select_rules
from sqlops.audit._finding import Finding
from sqlops.audit._kinds import Kind
from sqlops.audit._learning import learn
from sqlops.audit._project import Project, Provider

# Every fact is used in a file sorted *before* the file defining it, and each depends on
# another file's fact: records made on the first parse go stale and must be redone.
TREE = {
    "a_routes.py": """\
from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from b_repo import Repo
from c_deps import get_db
from d_models import Team
from e_paging import paginate

async def remove(obj, db=Depends(get_db)):
    db.delete(obj)

async def teams(repo: Repo):
    repo.session.delete(repo)
    stmt = select(Team).options(joinedload(Team.members))
    return await paginate(repo.session, stmt)
""",
    "b_repo.py": """\
from f_db import SessionLocal

class Repo:
    def __init__(self):
        self.session = SessionLocal()
""",
    "c_deps.py": """\
from f_db import SessionLocal

async def get_db():
    async with SessionLocal() as session:
        yield session
""",
    "d_models.py": """\
from sqlalchemy.orm import Mapped, relationship

class Team:
    members: Mapped[list["Member"]] = relationship()
""",
    "e_paging.py": """\
async def paginate(session, statement):
    await session.flush()
    return list((await session.scalars(statement)).all())
""",
    "f_db.py": """\
from sqlalchemy.ext.asyncio import async_sessionmaker
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
""",
}


def _write(root: Path) -> None:
    for name, text in TREE.items():
        (root / name).write_text(text)


def _in_memory(root: Path) -> list[Finding]:
    project = Project()
    contexts = [_parse(file, project) for file in iter_files([root])]
    learn(contexts, project)
    rules = select_rules()
    return sorted((f for ctx in contexts for f in _check(ctx, rules)), key=Finding.sort_key)


def test_streamed_learning_finds_what_learning_in_memory_finds(tmp_path: Path) -> None:
    _write(tmp_path)
    report = audit([tmp_path])
    assert [(Path(f.path).name, f.line, f.code) for f in report.findings] == [
        ("a_routes.py", 10, "SQA001"),
        ("a_routes.py", 13, "SQA001"),
        ("a_routes.py", 14, "SQA010"),
    ]
    assert report.findings == _in_memory(tmp_path)
    # each file parsed to learn and to check, and stale records parsed again
    assert report.parses > 2 * report.files


def test_a_replay_with_the_same_answers_applies_the_writes() -> None:
    project = Project()

    def step() -> None:
        kind = project.value("SessionLocal")
        project.learn("values", "session", Kind.ASYNC_SESSION if kind else None)

    project.learn("values", "SessionLocal", Kind.ASYNC_FACTORY)
    record = project.speculate(step)
    assert "session" not in project.values  # speculation leaves nothing behind
    assert project.replay(record)
    assert project.value("session") is Kind.ASYNC_SESSION


def test_a_replay_with_a_changed_answer_changes_nothing() -> None:
    project = Project()

    def step() -> None:
        project.learn("functions", "get_db", Provider(Kind.ASYNC_SESSION, True, True))
        project.add_base("Repo", "Base")
        if project.value("engine") is None:
            project.learn("values", "fallback", Kind.ASYNC_ENGINE)

    record = project.record(step)
    project.functions.clear()
    project.classes.clear()
    project.values.clear()
    project.learn("values", "engine", Kind.SYNC_ENGINE)  # the answer read is now different
    assert not project.replay(record)
    assert "get_db" not in project.functions and "Repo" not in project.classes
    assert "fallback" not in project.values


def test_a_poisoned_fact_is_restored_by_undo() -> None:
    project = Project()
    project.learn("values", "engine", Kind.ASYNC_ENGINE)

    def step() -> None:
        project.learn("values", "engine", Kind.SYNC_ENGINE)  # poisons the name

    project.speculate(step)
    assert project.value("engine") is Kind.ASYNC_ENGINE


def test_check_source_still_learns_in_memory() -> None:
    source = (
        TREE["f_db.py"]
        + "async def f():\n    async with SessionLocal() as s:\n        s.commit()\n"
    )
    assert [f.code for f in check_source(source)] == ["SQA001"]
