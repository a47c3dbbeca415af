"""OpenTelemetry: a span per repository call and transaction, metrics, and no values leaked."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

import sqlops
from sqlops import Repository
from sqlops._repository import Repository as PlainRepository
from tests.models import Base, Note, User
from tests.ops.conftest import Otel

SECRET = "s3cr3t-planted"


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_off_without_a_provider_leaves_every_class_as_it_is(url: URL | str) -> None:
    db = sqlops.Database(url)
    try:
        assert db._telemetry is None
        assert type(db) is sqlops.Database
        assert type(Repository(User, db)) is PlainRepository
        async with db.session() as session:
            assert type(Repository(User, session)) is PlainRepository
    finally:
        await db.dispose()


async def test_each_repository_call_is_one_span_named_by_operation_and_table(
    traced: sqlops.Database, otel: Otel, backend: str
) -> None:
    users = Repository(User, traced)
    user = await users.create(email="a@example.com", name="Ada")
    await users.get(user.id)
    await users.get_one(user.id)  # calls get() inside: still one span
    await users.page(name__like="A%", page=1, per_page=5)  # may count inside: one span
    await users.update(user.id, name="Ada L.")
    await users.delete(user.id)
    names = [(s.name, attrs(s)["sqlops.method"]) for s in otel.finished()]
    assert names == [
        ("INSERT users", "create"),
        ("SELECT users", "get"),
        ("SELECT users", "get_one"),
        ("SELECT users", "page"),
        ("UPDATE users", "update"),
        ("DELETE users", "delete"),
    ]
    page = otel.finished()[3]
    system = "mariadb" if backend == "mysql" and traced.engine.dialect.is_mariadb else backend
    assert attrs(page) == {
        "db.system.name": system,
        "db.namespace": make_url(str(traced.url)).database.rsplit("/", 1)[-1],
        "db.collection.name": "users",
        "db.operation.name": "SELECT",
        "sqlops.method": "page",
        "sqlops.filters": ("name__like",),
    }
    assert all(s.kind == trace.SpanKind.CLIENT for s in otel.finished())
    assert all(s.status.status_code == StatusCode.UNSET for s in otel.finished())


async def test_a_transaction_is_the_parent_of_the_calls_made_in_it(
    traced: sqlops.Database, otel: Otel
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler") as handler:
        async with traced.transaction() as session:
            users = Repository(User, session)
            await users.create(email="b@example.com", name="Bo")
            assert await users.count(name="Bo") == 1
    spans = {s.name: s for s in otel.finished()}
    transaction = spans[f"TRANSACTION {traced._telemetry.namespace}"]  # type: ignore[union-attr]
    assert transaction.parent.span_id == handler.get_span_context().span_id
    assert attrs(transaction)["sqlops.method"] == "transaction"
    assert spans["INSERT users"].parent.span_id == transaction.context.span_id
    assert spans["SELECT users"].parent.span_id == transaction.context.span_id
    assert attrs(spans["SELECT users"])["sqlops.filters"] == ("name",)


async def test_a_standalone_write_is_one_span_not_a_call_and_a_transaction(
    traced: sqlops.Database, otel: Otel
) -> None:
    await Repository(User, traced).create(email="c@example.com", name="Cy")
    assert [s.name for s in otel.finished()] == ["INSERT users"]


async def test_a_stream_is_one_span_that_does_not_adopt_the_loop_body(
    traced: sqlops.Database, otel: Otel
) -> None:
    notes = Repository(Note, traced)
    await notes.create_many([{"body": f"n{i}"} for i in range(5)])
    otel.spans.clear()
    seen = 0
    async for _ in notes.stream(body__startswith="n", batch_size=2):
        await Repository(Note, traced).count()  # the caller's own call, in the loop body
        seen += 1
    assert seen == 5
    streams = [s for s in otel.finished() if attrs(s)["sqlops.method"] == "stream"]
    counts = [s for s in otel.finished() if attrs(s)["sqlops.method"] == "count"]
    assert len(streams) == 1 and len(counts) == 5
    assert attrs(streams[0])["sqlops.filters"] == ("body__startswith",)
    assert all(c.parent is None for c in counts)  # not children of the stream


async def test_a_sqlops_error_sets_error_status_and_type_without_its_message(
    traced: sqlops.Database, otel: Otel
) -> None:
    users = Repository(User, traced)
    await users.create(email=f"{SECRET}@example.com", name="Di")
    with pytest.raises(sqlops.UniqueViolation):
        await users.create(email=f"{SECRET}@example.com", name="Di")
    with pytest.raises(sqlops.NotFoundError):
        await users.get_one(10**6)
    failed = [s for s in otel.finished() if s.status.status_code == StatusCode.ERROR]
    assert [attrs(s)["error.type"] for s in failed] == [
        "sqlops.UniqueViolation",
        "sqlops.NotFoundError",
    ]
    assert all(s.status.description is None and not s.events for s in failed)


@pytest.mark.postgresql
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_run_retries_are_events_with_the_sqlstate(
    traced: sqlops.Database, otel: Otel
) -> None:
    await Repository(User, traced).create(email="e@example.com", name="Ed")
    otel.spans.clear()
    attempts = 0

    async def rename(session: Any) -> None:
        nonlocal attempts
        attempts += 1
        await session.execute(text("SELECT name FROM users"))
        if attempts == 1:  # another transaction changes the row we read, and commits
            async with traced.engine.begin() as other:
                await other.execute(text("UPDATE users SET name = 'X'"))
        await session.execute(text("UPDATE users SET name = 'Y'"))

    before = traced.stats
    await traced.run(rename, isolation="SERIALIZABLE")
    assert attempts == 2
    run_span = otel.named(f"TRANSACTION {traced._telemetry.namespace}")[-1]  # type: ignore[union-attr]
    assert attrs(run_span)["sqlops.method"] == "run"
    [event] = run_span.events
    assert event.name == "retry"
    assert dict(event.attributes) == {
        "sqlops.attempt": 1,
        "error.type": "sqlops.TransactionConflictError",
        "db.response.status_code": "40001",
    }
    assert (traced.stats - before).conflicts == 1
    conflicts = otel.metric_points("sqlops.run.conflicts")
    points = {p.attributes["db.namespace"]: p.value for p in conflicts}
    assert points[traced._telemetry.namespace] == traced.stats.conflicts  # type: ignore[union-attr]


async def test_metrics_duration_pool_connections_and_wait(
    traced: sqlops.Database, otel: Otel, backend: str
) -> None:
    users = Repository(User, traced)
    await users.create(email="f@example.com", name="Fi")
    await users.list(name="Fi")
    durations = otel.metric_points("db.client.operation.duration")
    methods = {p.attributes["sqlops.method"]: p for p in durations}
    assert {"create", "list"} <= set(methods)
    assert methods["list"].count == 1 and methods["list"].sum > 0
    assert methods["list"].attributes["db.collection.name"] == "users"
    states = {p.attributes["db.client.connection.state"]: p.value
              for p in otel.metric_points("db.client.connection.count")}  # fmt: skip
    assert states["used"] == 0 and states["idle"] >= 1
    waits = otel.metric_points("db.client.connection.wait_time")
    assert sum(p.count for p in waits) >= 2


async def test_every_standalone_read_records_its_connection_wait(
    traced: sqlops.Database, otel: Otel
) -> None:
    users = Repository(User, traced)
    made = await users.create(email="w@example.com", name="Wu")

    def waits() -> int:
        return sum(p.count for p in otel.metric_points("db.client.connection.wait_time"))

    before = waits()
    for _ in range(5):  # template reads: on the pool's fast lane where the driver has one
        assert await users.get(made.id) is not None
    assert waits() - before == 5


async def test_no_value_or_password_reaches_a_span_a_metric_or_a_log(
    url: URL | str, otel: Otel, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    if backend == "postgresql":  # trust authentication: the password is sent, never checked
        url = make_url(str(url)).set(password=f"{SECRET}-password")
    db = sqlops.Database(
        url, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider,
        slow_query_ms=0,
    )  # fmt: skip
    caplog.set_level(logging.DEBUG)
    try:
        await db.create_all(Base.metadata)
        users = Repository(User, db)
        user = await users.create(email=f"{SECRET}-email@example.com", name=f"{SECRET}-name")
        await users.list(name=f"{SECRET}-name")
        await users.page(name__like=f"{SECRET}%", per_page=3)
        await users.count(email=f"{SECRET}-email@example.com")
        await users.update(user.id, nickname=f"{SECRET}-nick")
        await users.get_or_create(email=f"{SECRET}-email@example.com")
        with pytest.raises(sqlops.UniqueViolation):
            await users.create(email=f"{SECRET}-email@example.com", name="dup")
        with pytest.raises(sqlops.NotFoundError):
            await users.one(name=f"{SECRET}-nobody")
        async with db.transaction() as session:
            await Repository(User, session).update_where(
                values={"nickname": f"{SECRET}-nick2"}, name=f"{SECRET}-name"
            )
        await db.drop_all(Base.metadata)
    finally:
        await db.dispose()
    exported = otel.everything()
    assert "sqlops.filters" in exported and "db.client.operation.duration" in exported
    assert SECRET not in exported
    slow = [r for r in caplog.records if r.name == "sqlops.slow"]
    assert slow  # slow_query_ms=0 logs every statement: with its SQL, without its values
    assert SECRET not in caplog.text


def test_a_global_provider_set_before_the_database_turns_telemetry_on(tmp_path: Any) -> None:
    # In a child process: a global provider cannot be unset, and the rest of the suite
    # must stay untraced.
    script = textwrap.dedent(
        f"""
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import sqlops
        from tests.models import Base, User

        async def main():
            before = sqlops.Database("sqlite+aiosqlite:///{tmp_path}/a.db")
            assert before._telemetry is None
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            db = sqlops.Database("sqlite+aiosqlite:///{tmp_path}/a.db")
            await db.create_all(Base.metadata)
            await sqlops.Repository(User, db).get(1)
            await db.dispose()
            await before.dispose()
            print([s.name for s in exporter.get_finished_spans()])

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['SELECT users']"


async def test_concurrent_calls_each_get_their_own_span_under_their_own_parent(
    traced: sqlops.Database, otel: Otel
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    users = Repository(User, traced)

    async def request(number: int) -> int:
        with tracer.start_as_current_span(f"request {number}") as span:
            await users.count(name=f"n{number}")
            return span.get_span_context().span_id

    parents = await asyncio.gather(*(request(n) for n in range(4)))
    counts = [s for s in otel.finished() if s.name == "SELECT users"]
    assert sorted(c.parent.span_id for c in counts) == sorted(parents)
