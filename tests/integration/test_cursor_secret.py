"""The key that signs cursors: never derived from credentials, explicit when it matters.

It used to be derived from the database URL, password included: one cursor let anyone
test password guesses offline, and with a password-less URL anyone could compute the
key and forge cursors. Now: ``cursor_secret=`` or ``$SQLOPS_CURSOR_SECRET``, else a
random key per process (cursors then do not move between workers; a warning says so).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import subprocess
import sys
from typing import Any

import pytest

import sqlops
from sqlops import _pagination
from tests.models import User

pytestmark = pytest.mark.sqlite

# Prints a cursor over 5 users of a fresh SQLite file (argv[1]), as another worker would.
WORKER = """
import asyncio, sys
import sqlops
from tests.models import Base, User

async def main():
    async with sqlops.Database("sqlite+aiosqlite:///" + sys.argv[1]) as db:
        await db.create_all(Base.metadata)
        users = sqlops.Repository(User, db)
        if not await users.count():
            await users.create_many([{"email": f"u{i}@x", "name": "n"} for i in range(5)])
        print((await users.cursor_page(limit=2)).next_cursor)

asyncio.run(main())
"""


def _other_worker(path: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, path],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=os.getcwd(),
    )
    return done.stdout.strip()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SQLOPS_CURSOR_SECRET"}
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *sys.path])
    return {**env, **extra}


@pytest.fixture
async def users(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("SQLOPS_CURSOR_SECRET", raising=False)
    path = str(tmp_path / "c.db")
    cursor = _other_worker(path, _env())  # creates the schema and the rows
    async with sqlops.Database(f"sqlite+aiosqlite:///{path}") as db:
        yield sqlops.Repository(User, db), path, cursor


async def test_the_key_is_not_derived_from_the_url(users: Any) -> None:
    repo, _, _ = users
    for url in (repo.db.url, repo.db.url.set(password="hunter2")):
        for material in (url.render_as_string(hide_password=False), str(url)):
            derived = hashlib.sha256(b"sqlops-cursor\x00" + material.encode()).digest()
            assert not hmac.compare_digest(_pagination.cursor_key(None), derived)


async def test_without_a_secret_another_process_cannot_use_our_cursors(users: Any) -> None:
    repo, _, theirs = users
    with pytest.raises(sqlops.InvalidCursorError):
        await repo.cursor_page(after=theirs, limit=2)
    ours = (await repo.cursor_page(limit=2)).next_cursor
    assert ours != theirs  # same rows, same URL, different process: a different key
    assert [u.email for u in (await repo.cursor_page(after=ours, limit=2)).items] == [
        "u2@x",
        "u3@x",
    ]


async def test_with_sqlops_cursor_secret_every_worker_agrees(
    users: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, path, _ = users
    theirs = _other_worker(path, _env(SQLOPS_CURSOR_SECRET="shared-deployment-key"))
    monkeypatch.setenv("SQLOPS_CURSOR_SECRET", "shared-deployment-key")
    page = await repo.cursor_page(after=theirs, limit=2)
    assert [u.email for u in page.items] == ["u2@x", "u3@x"]


async def test_an_injected_session_signs_with_its_databases_secret(tmp_path: Any) -> None:
    path = str(tmp_path / "s.db")
    _other_worker(path, _env())
    async with sqlops.Database(f"sqlite+aiosqlite:///{path}", cursor_secret="k1") as db:
        standalone = (await sqlops.Repository(User, db).cursor_page(limit=2)).next_cursor
        async with db.session() as s:
            page = await sqlops.Repository(User, s).cursor_page(after=standalone, limit=2)
        assert [u.email for u in page.items] == ["u2@x", "u3@x"]
    async with sqlops.Database(f"sqlite+aiosqlite:///{path}", cursor_secret="k2") as other:
        with pytest.raises(sqlops.InvalidCursorError):
            await sqlops.Repository(User, other).cursor_page(after=standalone)


def test_the_random_fallback_is_announced_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SQLOPS_CURSOR_SECRET", raising=False)
    monkeypatch.setattr(_pagination, "_process_key", None)
    with caplog.at_level(logging.WARNING, logger="sqlops"):
        first = _pagination.cursor_key(None)
        assert _pagination.cursor_key(None) == first and len(first) == 32
    warned = [r.getMessage() for r in caplog.records if "cursor_secret" in r.getMessage()]
    assert len(warned) == 1 and "SQLOPS_CURSOR_SECRET" in warned[0]
    assert _pagination.cursor_key("explicit") == b"explicit"
