"""The sync twin's fast paths: read templates on the sync drivers, liveness without pre-ping."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from sqlops import _autocommit, sync
from sqlops.sync import _driver
from tests.integration.test_lane import lane_takes
from tests.models import Account, Event, Team

_WHOAMI = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
_KILL = {"postgresql": "SELECT pg_terminate_backend({})", "mysql": "KILL {}"}
_ALIVE = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE pid = {}",
    "mysql": "SELECT count(*) FROM information_schema.processlist WHERE id = {}",
}


def _template_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the SQL of every template read that reaches a sync driver."""
    seen: list[str] = []
    real = _driver.TemplateDriver.fetch_typed

    async def spy(self: Any, sql: str, parameters: Any, codes: bool) -> Any:
        seen.append(sql)
        return await real(self, sql, parameters, codes)

    monkeypatch.setattr(_driver.TemplateDriver, "fetch_typed", spy)
    return seen


def test_standalone_reads_go_straight_to_the_driver_with_the_right_types(
    sync_db: sync.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = sync.Repository(Account, sync_db)
    made = accounts.create(owner="ada", balance=5, amount=decimal.Decimal("12.50"))
    seen = _template_calls(monkeypatch)
    for _ in range(7):  # past psycopg's prepare threshold: prepared statements too
        got = accounts.get(made.id)
        assert got is not None and got.amount == decimal.Decimal("12.50")
        assert isinstance(got.amount, decimal.Decimal)
    page = accounts.page(owner__like="a%", page=1, per_page=10, order_by="id")
    assert ([a.owner for a in page.items], page.total) == (["ada"], 1)
    assert accounts.get(made.id + 1000) is None
    assert len(seen) >= 9  # every one of those reads took the template path


def test_a_template_read_does_not_leave_a_transaction_open(
    sync_db: sync.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg reads in autocommit; the pool's connection goes back idle, not in a transaction."""
    teams = sync.Repository(Team, sync_db)
    team = teams.create(name="t")
    seen = _template_calls(monkeypatch)
    assert teams.get(team.id) is not None and seen
    with sync_db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        if sync_db.dialect == "postgresql":
            assert raw.autocommit is False  # given back as SQLAlchemy lent it
            assert raw.info.transaction_status == 0  # IDLE
        elif sync_db.dialect == "sqlite":
            assert not raw.in_transaction


_INJECTED_ROWS: list[tuple[type[Any], dict[str, Any], str]] = [
    (Account, {"id": 41, "owner": "ada", "amount": decimal.Decimal("12.50")}, "amount"),
    (
        Event,
        {
            "id": uuid.uuid4(),
            "name": "launch",
            "at": dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.timezone.utc),
        },
        "at",
    ),
]


@pytest.mark.parametrize(("model", "row", "typed"), _INJECTED_ROWS, ids=["int-decimal", "uuid-dt"])
def test_injected_reads_take_the_template_route_inside_the_sessions_transaction(
    sync_db: sync.Database,
    monkeypatch: pytest.MonkeyPatch,
    model: type[Any],
    row: dict[str, Any],
    typed: str,
) -> None:
    """In a caller's Session a read runs on the driver too, and sees the uncommitted row."""
    seen = _template_calls(monkeypatch)
    with sync_db.session() as session:
        session.execute(insert(model).values(**row))  # not in the identity map: read for real
        repo = sync.Repository(model, session)
        got = repo.get(row["id"])
        assert got is not None and getattr(got, typed) == row[typed]
        assert type(getattr(got, typed)) is type(row[typed])
        assert got in session and repo.get(row["id"]) is got  # entered, then held
        assert [item.id for item in repo.page(page=1, per_page=5).items] == [row["id"]]
        assert len(seen) == 2  # the get and the page, both on the template route
        session.rollback()
        assert session.scalars(select(model)).all() == []  # it was the transaction's row


def test_calls_after_the_first_in_a_transaction_reuse_its_connection_directly(
    sync_db: sync.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the transaction holds its connection, the fast routes take it as held (no
    ``Session.connection()``), and still see the transaction: its writes, its savepoint."""
    calls: list[int] = []
    real = Session.connection

    def spy(self: Session, *args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(self, *args, **kw)

    monkeypatch.setattr(Session, "connection", spy)
    with sync_db.transaction() as session:
        teams = sync.Repository(Team, session)
        team = teams.create(name="first")
        before = len(calls)
        assert teams.update(team.id, name="renamed").name == "renamed"
        assert teams.get(team.id) is team and teams.count(name="renamed") == 1
        with contextlib.suppress(RuntimeError), session.begin_nested():
            teams.update(team.id, name="in a savepoint")
            raise RuntimeError("roll the savepoint back")
        assert teams.count(name="renamed") == 1
        assert len(calls) == before  # every call found the connection held
    assert sync.Repository(Team, sync_db).get_one(team.id).name == "renamed"


def test_no_pre_ping_round_trip_per_checkout_by_default(sync_db: sync.Database) -> None:
    if sync_db.dialect == "sqlite":
        assert sync_db.engine.pool._pre_ping is False  # a file: nothing to ping
        return
    assert sync_db.engine.pool._pre_ping is False
    pings: list[int] = []
    real = sync_db.engine.dialect.do_ping
    sync_db.engine.dialect.do_ping = lambda c: pings.append(1) or real(c)  # type: ignore[method-assign]
    teams = sync.Repository(Team, sync_db)
    for _ in range(5):
        teams.count()
    assert pings == []


def test_a_connection_the_server_dropped_is_replaced_before_use(
    sync_db: sync.Database, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("a file has no server to drop the connection")
    sync_db.dispose()
    with sync_db.engine.connect() as conn:  # the pool's only idle connection afterwards
        victim = int(conn.exec_driver_sql(_WHOAMI[backend]).scalar_one())
    with sync.Database(sync_db.url) as other, other.engine.connect() as conn:
        conn.exec_driver_sql(_KILL[backend].format(victim))
        for _ in range(100):  # the server ends the backend a moment after it is told to
            if not conn.exec_driver_sql(_ALIVE[backend].format(victim)).scalar_one():
                break
            time.sleep(0.05)
    time.sleep(0.05)
    # A plain checkout, no retry around it: the dead connection is noticed and replaced.
    with sync_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
        assert int(conn.exec_driver_sql(_WHOAMI[backend]).scalar_one()) != victim


def test_template_reads_from_many_threads(sync_db: sync.Database) -> None:
    teams = sync.Repository(Team, sync_db)
    made = [teams.create(name=f"t{i}").id for i in range(20)]
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def work() -> None:
        try:
            start.wait()
            for pk in made:
                found = teams.get(pk)
                assert found is not None and found.id == pk
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _session_counters(db: sync.Database) -> dict[str, int]:
    """The one pooled connection's own counters, borrowed as a standalone read borrows it."""
    with _autocommit.checkout_for_read():
        fairy = db.engine.raw_connection()
    try:
        cursor = fairy.driver_connection.cursor()
        cursor.execute("SHOW SESSION STATUS")
        found = dict(cursor.fetchall())
        cursor.close()
    finally:
        _autocommit.release(fairy)
    names = ("Questions", "Com_select", "Com_rollback", "Com_set_option")
    return {name: int(found[name]) for name in names}


def test_a_mariadb_template_read_is_one_statement(sync_db: sync.Database, backend: str) -> None:
    """PyMySQL: the read runs in autocommit, no ROLLBACK after it; a transaction is not."""
    if backend != "mysql":
        pytest.skip("MariaDB's autocommit reads")
    with sync.Database(sync_db.url, pool_size=1, max_overflow=0) as db:
        teams = sync.Repository(Team, db)
        team = teams.create(name="t")
        teams.get(team.id)  # the first read turns autocommit on
        before = _session_counters(db)
        assert teams.get(team.id) is not None
        after = _session_counters(db)
        costs = {name: after[name] - before[name] for name in before}
        assert costs == {"Questions": 2, "Com_select": 1, "Com_rollback": 0, "Com_set_option": 0}
        with db.transaction() as session:
            assert session.execute(text("SELECT @@autocommit")).scalar() == 0


def test_injected_reads_run_as_templates_inside_the_sessions_transaction(
    sync_db: sync.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the session's own connection: they see its uncommitted writes, and roll back."""
    teams = sync.Repository(Team, sync_db)
    team = teams.create(name="t")
    seen = _template_calls(monkeypatch)
    with pytest.raises(RuntimeError), sync_db.transaction() as session:
        injected = sync.Repository(Team, session)
        injected.create(name="u")  # flushed: the session holds no pending change
        session.expunge_all()
        assert [t.name for t in injected.list(order_by="id")] == ["t", "u"]
        assert injected.get(team.id) is not None
        raise RuntimeError("roll back")
    assert len(seen) == 2  # both reads took the template path, none fell back
    assert [t.name for t in teams.list()] == ["t"]


def test_standalone_reads_take_the_pools_fast_lane_unless_a_listener_would_see(
    sync_db: sync.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event

    accounts = sync.Repository(Account, sync_db)
    made = accounts.create(owner="ada", balance=5)
    accounts.get(made.id)
    taken = lane_takes(monkeypatch)
    for _ in range(3):
        got = accounts.get(made.id)
        assert got is not None and got.owner == "ada"
    assert len(taken) == 3 and all(r is not None for r in taken)
    engine = sync_db.engine
    assert engine.pool.checkedout() == 0
    seen: list[Any] = []

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        seen.append(record)

    event.listen(engine, "checkout", checkout)
    try:
        taken.clear()
        assert accounts.get(made.id) is not None and accounts.count(owner="ada") == 1
        assert len(seen) == 2 and not taken  # the application's hook saw both checkouts
    finally:
        event.remove(engine, "checkout", checkout)


def test_a_read_that_left_a_transaction_open_is_discarded_not_handed_on(
    sync_db: sync.Database,
) -> None:
    from sqlops import _dialects, _lane

    accounts = sync.Repository(Account, sync_db)
    made = accounts.create(owner="ada", balance=5)
    accounts.get(made.id)
    engine = sync_db.engine
    taken = _lane.take(engine)
    assert taken is not None
    record = taken[2]
    driver = record.driver_connection
    if engine.dialect.driver == "pymysql":
        driver.begin()
    else:  # sqlite3 in autocommit mode (sqlops' connect hook), psycopg outside autocommit
        driver.execute("BEGIN" if engine.dialect.driver == "pysqlite" else "SELECT 1")
    clean = _dialects.lane_clean(engine.dialect.driver)
    assert clean is not None and not clean(driver)
    _lane.give_back(taken)
    assert record.dbapi_connection is None  # closed, not returned with its transaction
    got = accounts.get(made.id)
    assert got is not None and got.owner == "ada"


def test_an_overflow_connection_given_back_on_the_lane_is_closed(url: Any) -> None:
    from sqlops import _lane
    from tests.sync._twin import sync_url

    db = sync.Database(sync_url(url), pool_size=1, max_overflow=2)
    try:
        db.create_all(Account.metadata)
        accounts = sync.Repository(Account, db)
        made = accounts.create(owner="ada", balance=5)
        accounts.get(made.id)
        taken = _lane.take(db.engine)
        assert taken is not None
        with db.engine.connect() as conn:  # an overflow connection, given back at once
            conn.exec_driver_sql("SELECT 1")
        assert db.engine.pool.checkedin() == 1  # the queue is full
        record = taken[2]
        _lane.give_back(taken)
        assert record.dbapi_connection is None  # closed by the pool's return
        assert db.engine.pool.checkedout() == 0 and db.engine.pool.checkedin() == 1
        assert accounts.get(made.id) is not None
    finally:
        db.drop_all(Account.metadata)
        db.dispose()
