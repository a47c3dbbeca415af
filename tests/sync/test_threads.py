"""Twenty threads through one sync.Database: exact results, conflicts retried."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from sqlops import SessionMisuseError, StaleVersionError, sync
from tests.models import Account, Counter, Team

from ._twin import sync_url

THREADS = 20


def _together(fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` in 20 threads released at the same moment; their results."""
    start = threading.Barrier(THREADS)

    def call(i: int) -> Any:
        start.wait()
        return fn(i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(call, range(THREADS)))


def test_get_or_create_from_20_threads_creates_one_row(sync_db: sync.Database) -> None:
    teams = sync.Repository(Team, sync_db)
    results = _together(lambda i: teams.get_or_create(name="red"))
    assert sum(created for _, created in results) == 1
    assert len({team.id for team, _ in results}) == 1
    assert teams.count() == 1


def test_increment_from_20_threads_loses_no_update(sync_db: sync.Database) -> None:
    counters = sync.Repository(Counter, sync_db)
    counters.create(key="home")
    values = _together(lambda i: [counters.increment("home", "hits") for _ in range(5)])
    assert counters.get_one("home").hits == THREADS * 5
    seen = sorted(v for per_thread in values for v in per_thread)
    assert seen == list(range(1, THREADS * 5 + 1))  # every new value returned exactly once


def _transfer(session: Session, source: int, target: int, amount: int) -> None:
    by_id = {a.id: a for a in session.scalars(select(Account).order_by(Account.id))}
    by_id[source].balance -= amount
    by_id[target].balance += amount
    session.flush()


def test_serializable_transfers_from_20_threads_are_exact(
    sync_db: sync.Database, backend: str
) -> None:
    accounts = sync.Repository(Account, sync_db)
    a = accounts.create(owner="a", balance=1000)
    b = accounts.create(owner="b", balance=1000)
    level = None if backend == "sqlite" else "SERIALIZABLE"
    before = sync_db.stats

    def move(i: int) -> None:
        source, target = (a.id, b.id) if i % 2 else (b.id, a.id)
        sync_db.run(_transfer, source, target, i + 1, isolation=level, retries=50)

    _together(move)
    balances = {x.owner: x.balance for x in accounts.list()}
    moved = sum(i + 1 if i % 2 else -(i + 1) for i in range(THREADS))
    assert balances == {"a": 1000 - moved, "b": 1000 + moved}
    stats = sync_db.stats - before
    assert stats.runs == THREADS and stats.gave_up == 0
    if backend != "sqlite":  # SQLite's BEGIN IMMEDIATE serializes writers: no conflicts
        assert stats.conflicts > 0


def test_a_session_inside_two_threads_at_once_is_refused(sync_db: sync.Database) -> None:
    entered, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []
    with sync_db.session() as session:
        conn = session.connection()

        def slow(*args: Any) -> None:
            if not entered.is_set():  # hold the first statement until told
                entered.set()
                release.wait(5)

        event.listen(conn, "before_cursor_execute", slow)

        def first() -> None:
            try:
                session.execute(select(Team))
            except BaseException as exc:  # reported below, not lost in the thread
                failures.append(exc)

        thread = threading.Thread(target=first)
        thread.start()
        assert entered.wait(5)
        try:
            with pytest.raises(SessionMisuseError, match="two threads at once"):
                sync.Repository(Team, session).count()
        finally:
            release.set()
            thread.join()
        assert failures == []
        assert sync.Repository(Team, session).count() == 0  # one after another: fine


def _blocked_on_a_lock(sync_db: sync.Database, backend: str) -> bool:
    """Whether this database's ``UPDATE teams`` is waiting for a row lock (SQLite: assume so).

    It cannot end while the lock is held, so on MariaDB being in the processlist is
    waiting (``innodb_trx`` says RUNNING for a while before LOCK WAIT).
    """
    if backend == "sqlite":
        time.sleep(1)  # the writer waits in sqlite3's busy handler, which nothing reports
        return True
    query = {
        "postgresql": "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()",
        "mysql": "SELECT count(*) FROM information_schema.processlist"
        " WHERE db = database() AND command = 'Query' AND info LIKE 'UPDATE teams%%'",
    }[backend]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sync_db.engine.connect() as conn:
            if conn.exec_driver_sql(query).scalar():
                return True
        time.sleep(0.05)
    return False


def test_a_repository_call_while_another_thread_is_inside_one_is_refused(
    sync_db: sync.Database, backend: str
) -> None:
    # The fast routes run on the session's driver connection without the session's own
    # methods: they hold its one-thread guard themselves, or the second thread's
    # statement interleaves with the first's (PyMySQL) or queues behind it.
    teams = sync.Repository(Team, sync_db)
    red, blue = teams.create(name="red"), teams.create(name="blue")
    outcome: dict[str, Any] = {}
    threads: list[threading.Thread] = []

    def run(key: str, call: Callable[[], Any]) -> None:
        def target() -> None:
            try:
                outcome[key] = call()
            except BaseException as exc:  # reported below, not lost in the thread
                outcome[key] = exc

        threads.append(threading.Thread(target=target, daemon=True))
        threads[-1].start()

    with sync_db.transaction() as session:
        shared = sync.Repository(Team, session)
        with sync_db.engine.connect() as blocker:  # holds red's row (SQLite: the write lock)
            blocker.execute(update(Team).where(Team.id == red.id).values(name="red"))
            try:
                run("update", lambda: shared.update(red.id, name="crimson"))
                assert _blocked_on_a_lock(sync_db, backend)
                run("get", lambda: shared.get(blue.id))
                threads[-1].join(10)
            finally:
                blocker.rollback()  # lets the first thread's UPDATE through, whatever happened
                for thread in threads:
                    thread.join(10)
        assert not any(thread.is_alive() for thread in threads)
    assert isinstance(outcome["get"], SessionMisuseError), outcome["get"]
    assert "two threads at once" in str(outcome["get"])
    assert getattr(outcome["update"], "name", outcome["update"]) == "crimson"
    assert teams.get_one(red.id).name == "crimson"


def test_overlapping_versioned_updates_one_blocks_then_loses(url: Any) -> None:
    """The threads' twin of test_versioned's asyncio race: the winner holds its row lock
    while the loser's ``UPDATE … AND version = 1`` waits on it, then matches nothing."""
    from tests.integration.test_versioned import Base as VersionedBase
    from tests.integration.test_versioned import SqlopsDoc

    db = sync.Database(sync_url(url))
    db.create_all(VersionedBase.metadata)
    try:
        doc = sync.Repository(SqlopsDoc, db).create(title="start")
        first_wrote = threading.Event()

        def winner() -> None:
            with db.transaction() as session:
                sync.Repository(SqlopsDoc, session).update(doc.id, title="A", expected_version=1)
                first_wrote.set()
                time.sleep(0.2)  # the loser is now waiting for our lock

        def loser() -> None:
            assert first_wrote.wait(10)
            with db.transaction() as session:
                sync.Repository(SqlopsDoc, session).update(doc.id, title="B", expected_version=1)

        with ThreadPoolExecutor(2) as pool:
            won, lost = pool.submit(winner), pool.submit(loser)
            assert won.result(30) is None
            with pytest.raises(StaleVersionError):
                lost.result(30)
        assert sync.Repository(SqlopsDoc, db).get_one(doc.id).title == "A"
    finally:
        db.drop_all(VersionedBase.metadata)
        db.dispose()
