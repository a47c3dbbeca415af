"""The one place a read is run: choose the route for a ReadQuery, run it, build results.

Three routes serve every read, in both modes:

* **template** — a compiled statement shape run on the driver connection (asyncpg,
  aiosqlite), rows made into instances by the fast :class:`~sqlops._fastread.ReadPlan`;
  a stream reads the driver's own cursor (an asyncpg portal, aiosqlite ``fetchmany``);
* **core** — the same ``SELECT <columns>`` through a SQLAlchemy connection (any driver,
  and whenever a statement listener or ``echo`` must see the statement);
* **orm** — the ``AsyncSession``: ``load=``, ``schema=``, ``for_update=``, models the
  plan cannot build, and an injected session with unflushed changes.

Standalone, the fast routes take a pooled connection of their own and return detached
instances. Injected, they run on the session's own connection inside its transaction,
and respect its identity map: a row whose object the session already holds returns that
object; a new one enters the session as persistent (see :mod:`sqlops._attach`), so a
later change to it flushes. A session with pending changes, or one with ``do_orm_execute``
or ``loaded_as_persistent`` listeners of the application's own, takes the ORM route,
which autoflushes and runs those hooks.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from . import (
    _attach,
    _expressions,
    _fastread,
    _filters,
    _internals,
    _membership,
    _statements,
    _templates,
    _translate,
)
from ._errors import InvalidValueError
from ._fastread import ReadPlan
from ._query import ReadQuery

if TYPE_CHECKING:
    from ._repobase import RepositoryBase

T = TypeVar("T")

#: Tests set this to "orm" to run the same suite over the ORM route (see tests/conftest.py).
forced_route: str | None = None


def fast_plan(repo: RepositoryBase[Any], q: ReadQuery) -> ReadPlan | None:
    """The session-free plan for ``q``, when one of the fast routes may serve it."""
    if forced_route == "orm" or q.load or q.for_update or q.schema is not None:
        return None
    plan = _fastread.plan_for(repo.info)
    if not plan.eligible:
        return None
    if repo.session is not None and not _attach.session_ready(repo.session):
        return None
    return plan


# ---------------------------------------------------------------------- entry points


async def get(repo: RepositoryBase[Any], q: ReadQuery) -> Any:
    """The instance with primary key ``q.identity``, or None."""
    plan = fast_plan(repo, q)
    if plan is not None and repo.session is not None:
        held = _attach.held(repo.session, plan, q.identity)
        if held is not _attach.ABSENT:
            if held is not _attach.EXPIRED:
                return held  # as session.get: the identity map answers, no SQL
            plan = None  # expired: session.get refreshes it
    if plan is None:
        return await _orm_get(repo, q)
    found = await _fast(repo, q, plan)
    return found[0] if found else None


async def fetch(repo: RepositoryBase[Any], q: ReadQuery) -> list[Any]:
    """The instances ``q`` selects; for ``page``, ``(instance, total)`` pairs."""
    plan = fast_plan(repo, q)
    if plan is None:
        return await _orm_fetch(repo, q)
    return await _fast(repo, q, plan)


async def scalar(repo: RepositoryBase[Any], q: ReadQuery) -> Any:
    """The one value of a ``count`` / ``exists`` query."""
    session = repo.session
    if forced_route == "orm" or (session is not None and not _attach.session_ready(session)):
        stmt = _statements.select_for(repo, q, None)
        return await repo._read(lambda s: _scalar_of(s.execute(stmt)))
    if q.kind == "count" and not repo.info.inherits and _templatable(repo, q):
        rows = await _template(repo, _statements.template_for(repo, q, None))
        if rows is not None:
            return rows[0][0]
    stmt = _statements.select_for(repo, q, None)
    return await _core(repo, lambda conn: _scalar_of(conn.execute(stmt)))


async def _scalar_of(result: Awaitable[Any]) -> Any:
    return (await result).scalar()


async def stream(
    repo: RepositoryBase[Any], q: ReadQuery, batch_size: int
) -> AsyncGenerator[list[Any], None]:
    """Yield the instances ``q`` selects, in lists of up to ``batch_size`` (one per fetch).

    Standalone it holds a read-only transaction open while the caller iterates;
    injected it reads in the session's transaction. On the template route the driver's
    own cursor feeds the plan's rows (no ``Result``, no ``Row``); on the core route a
    server-side ``session.stream``; the ORM route loads with ``yield_per``. Lists, not
    single rows: the caller's loop then runs over a list, one generator step per batch.
    """
    plan = fast_plan(repo, q)
    async with repo._reading() as session:
        if plan is not None and _stream_templatable(repo, q):
            batches = _template_stream(repo, session, q, plan, batch_size)
            try:
                async with contextlib.aclosing(batches):
                    async for objs in batches:
                        yield objs
                return
            except _templates.Fallback:
                pass  # raised before any row: the ordinary route reads them instead
        async with contextlib.aclosing(_session_stream(repo, session, q, plan, batch_size)) as it:
            async for objs in it:
                yield objs


def _stream_templatable(repo: RepositoryBase[Any], q: ReadQuery) -> bool:
    if not _templatable(repo, q):
        return False
    if repo.db is not None:
        return repo.db.driver in _templates.STREAM_DRIVERS
    assert repo.session is not None
    bind: Any = repo.session.sync_session.get_bind(repo.info.mapper)
    return bind.dialect.driver in _templates.STREAM_DRIVERS


async def _template_stream(
    repo: RepositoryBase[Any], session: AsyncSession, q: ReadQuery, plan: ReadPlan, size: int
) -> AsyncGenerator[list[Any], None]:
    """The stream's SELECT as a template, on the driver cursor of ``session``'s connection."""
    spec = _statements.template_for(repo, q, plan)
    if len(spec.query.args) > _membership.LONG:
        raise _templates.Fallback("long IN list")
    guard = _attach.claim(session, "stream")
    try:
        conn, driver = await _attach.driver_of(session, repo.info.mapper)
    finally:
        _attach.release(guard)
    dialect = conn.dialect
    if dialect.driver == "asyncpg" and not _internals.asyncpg_caches_statements(driver):
        raise _templates.Fallback("a pooler: asyncpg's cursor() would name its statement")
    try:
        found = _templates.template(
            dialect, spec.key, spec.query.types, spec.result_types, spec.make
        )
    except _templates.NotTemplatable as exc:
        raise _templates.Fallback(str(exc)) from exc
    rows = _templates.stream_rows(found, dialect, driver, spec.query.args, size)
    try:
        async with contextlib.aclosing(rows):
            async for batch in _attach.held_batches(session, rows):
                yield _objects(repo, session, plan, batch)
    except BaseException as exc:
        await _attach.discard_if_unknown(conn, exc)
        raise


async def _session_stream(
    repo: RepositoryBase[Any],
    session: AsyncSession,
    q: ReadQuery,
    plan: ReadPlan | None,
    size: int,
) -> AsyncGenerator[list[Any], None]:
    """The stream on the session: columns built by ``plan`` (core), or ORM instances."""
    stmt = _statements.select_for(repo, q, plan).execution_options(yield_per=size)
    result = await (session.stream_scalars(stmt) if plan is None else session.stream(stmt))
    try:
        # The identity map holds rows weakly: memory stays flat as the caller drops
        # them. (expunge_all() here would break yield_per's loading.)
        async for partition in _attach.held_batches(session, result.partitions()):
            yield list(partition) if plan is None else _objects(repo, session, plan, partition)
    finally:
        await result.close()


def _objects(
    repo: RepositoryBase[Any], session: AsyncSession, plan: ReadPlan, rows: Any
) -> list[Any]:
    if repo.session is None:
        return plan.build_all(rows)
    return _attach.attach_all(session, plan, rows, refresh=True)


# ---------------------------------------------------------------------- the routes


async def _fast(repo: RepositoryBase[Any], q: ReadQuery, plan: ReadPlan) -> list[Any]:
    """Run ``q`` on the template route if it can, else the core route; build the rows."""
    rows = None
    if _templatable(repo, q):
        rows = await _template(repo, _statements.template_for(repo, q, plan))
    if rows is None:
        stmt = _statements.select_for(repo, q, plan)
        rows = await _core(repo, lambda conn: _all(conn.execute(stmt)))
    objs = _build(repo, q, plan, rows)
    return objs if objs is not None else await _orm_fetch(repo, q)


async def _all(result: Awaitable[Any]) -> Any:
    return (await result).all()


def _build(repo: RepositoryBase[Any], q: ReadQuery, plan: ReadPlan, rows: Any) -> list[Any] | None:
    objs: list[Any] | None
    if repo.session is None:
        objs = plan.build_all(rows)
    else:
        objs = _attach.attach_all(repo.session, plan, rows)
    if objs is None or q.kind != "page":
        return objs
    width = len(plan.keys)
    return [(obj, row[width]) for obj, row in zip(objs, rows, strict=True)]


def _templatable(repo: RepositoryBase[Any], q: ReadQuery) -> bool:
    """No hand-written criteria, plain filters, a driver we run on, no statement watcher."""
    if not q.criteria_free or not _expressions.plain_filters(q.filters):
        return False
    if repo.db is not None:
        return repo.db.driver in _templates.DRIVERS and not repo.db._observed()
    assert repo.session is not None
    return _attach.templatable_bind(repo.session, repo.info.mapper)


async def write(repo: RepositoryBase[Any], spec: _statements.TemplateSpec) -> list[Any] | int:
    """Run the write ``spec`` in ``repo``'s session: its RETURNING rows, else the rowcount.

    A template on the driver when nothing watches the session's statements and the
    statement returns rows (or, on MariaDB, which has no ``UPDATE … RETURNING``, its
    rowcount); else the statement through the session's Core connection. An
    error the translator does not know is raised as the driver raised it, not retried on
    Core as a read is: on PostgreSQL it has already aborted the transaction.
    """
    session = repo.session
    assert session is not None
    returning = spec.returns_rows
    if forced_route is None and _attach.templatable_bind(session, repo.info.mapper):
        if returning:
            rows = await _template(repo, spec, write=True)
            if rows is not None:
                return list(rows)
        elif _dialect(repo).driver in _templates.COUNT_DRIVERS:  # MariaDB: no RETURNING
            count = await _template(repo, spec, write=True, count=True)
            if count is not None:
                return int(count)
    pairs = zip(spec.query.args, spec.query.types, strict=True)
    params = [bindparam(None, v, type_=t) for v, t in pairs]
    stmt = spec.make(params)
    try:
        if returning:
            return await _core(repo, lambda conn: _all(conn.execute(stmt)))
        return await _core(repo, lambda conn: _rowcount(conn.execute(stmt)))
    except InvalidValueError as exc:  # anonymous binds: name the column from spec.names
        values = dict(zip(spec.names, spec.query.args, strict=False))
        named = _translate.name_column(exc, _translate._Context(repo.info.table, [values]))
        if named is exc:
            raise
        raise named from exc.__cause__


async def _rowcount(result: Awaitable[Any]) -> int:
    return int((await result).rowcount)


async def _template(
    repo: RepositoryBase[Any],
    spec: _statements.TemplateSpec,
    *,
    write: bool = False,
    count: bool = False,
) -> Any:
    """Rows of ``spec`` run as a template (``count``: its rowcount), or None: this shape
    cannot be one."""
    if len(spec.query.args) > _membership.LONG:
        return None  # a long IN list: bound as one array off the template path
    dialect = _dialect(repo)
    try:
        found = _templates.template(
            dialect, spec.key, spec.query.types, spec.result_types, spec.make
        )
    except _templates.NotTemplatable:
        return None

    def use(driver: Any) -> Awaitable[Any]:
        run = _templates.execute if count else _templates.fetch
        return run(found, dialect, driver, spec.query.args, spec.names)

    try:
        if repo.db is not None:
            return await repo.db._driver_read(use)
        assert repo.session is not None
        return await _attach.on_driver(repo.session, repo.info.mapper, use, read=not write)
    except _templates.Fallback as exc:
        # Run again on another route, which raises it as SQLAlchemy does — unless the
        # statement was a write, or it ran in a PostgreSQL transaction that the error has
        # aborted (the second run would only say so): then the driver's error is raised.
        cause = exc.__cause__
        aborted = repo.session is not None and dialect.name == "postgresql"
        if (write or aborted) and cause is not None:
            raise cause from None
        return None


def _dialect(repo: RepositoryBase[Any]) -> Any:
    if repo.db is not None:
        return repo.db.engine.sync_engine.dialect
    assert repo.session is not None
    return repo.session.sync_session.get_bind(repo.info.mapper).dialect


async def _core(repo: RepositoryBase[Any], use: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """``use(connection)``: a pooled one standalone, the session's own injected."""
    if repo.db is not None:
        return await repo.db._core_read(use)
    assert repo.session is not None
    return await _attach.on_connection(repo.session, repo.info.mapper, use)


async def _orm_get(repo: RepositoryBase[Any], q: ReadQuery) -> Any:
    options = [
        *(_filters.load_options(repo.info, q.load) if q.load else ()),
        *repo._schema_options(q.schema),
    ]
    lock = q.for_update or None

    async def run(session: AsyncSession) -> Any:
        return await session.get(repo.model, q.identity, options=options, with_for_update=lock)

    return await repo._read(run)


async def _orm_fetch(repo: RepositoryBase[Any], q: ReadQuery) -> list[Any]:
    stmt = _statements.select_for(repo, q, None)
    if q.kind == "page":

        async def rows(session: AsyncSession) -> list[Any]:
            return list((await session.execute(stmt)).unique().all())

        return await repo._read(rows)

    async def objs(session: AsyncSession) -> list[Any]:
        return list((await session.scalars(stmt)).unique())

    return await repo._read(objs)
