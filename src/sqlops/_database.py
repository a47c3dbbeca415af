"""Database: one URL in, a configured engine, sessions and transactions out."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import (
    _dialects,
    _failover,
    _guards,
    _lazyload,
    _pagination,
    _pooler,
    _replication,
    _slowlog,
    _sqlite_begin,
    _telemetry,
    _transaction,
    _translate,
)
from ._engines import PoolTimeoutError, make_engine
from ._errors import DatabaseUnavailableError, SqlopsError
from ._routing import _REPLICA_RETRY_AFTER, AUTOCOMMIT_OPTION, ReplicaRouting
from ._transaction import Counters, RetryStats, quietly, run_with_retries, shielded
from ._url import dialect_family, require_driver, resolve_url, safe_url

logger = logging.getLogger("sqlops")

T = TypeVar("T")
LazyLoads = Literal["raise", "warn", "allow"]

READONLY_OPTION = _dialects.READONLY_OPTION
__all__ = [
    "AUTOCOMMIT_OPTION",
    "READONLY_OPTION",
    "_REPLICA_RETRY_AFTER",
    "Database",
    "LazyLoads",
    "PoolTimeoutError",
]


_DEFERRED_BEGIN = {_sqlite_begin.DEFER_OPTION: True}


class Database(ReplicaRouting):
    """Own an async engine (plus optional read replicas) and hand out sessions.

    ``url=None`` reads ``$DATABASE_URL`` and falls back to the embedded SQLite file
    ``./sqlops.db``. Plain ``postgresql://``, ``mysql://`` and ``sqlite://`` URLs get
    their async driver filled in.

    ::

        async with sqlops.Database("postgresql://app@db/app") as db:
            async with db.transaction() as session:
                session.add(User(email="a@example.com"))
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        replicas: Sequence[str | URL] = (),
        echo: bool = False,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float | None = None,
        pool_recycle: int | None = None,
        lazy_loads: LazyLoads = "raise",
        engine_options: dict[str, Any] | None = None,
        cursor_secret: str | bytes | None = None,
        n_plus_one: _guards.NPlusOne = "off",
        leaked_sessions: _guards.LeakedSessions = "off",
        tracer_provider: Any = None,
        meter_provider: Any = None,
        slow_query_ms: float | None = None,
        pooler: str | None = None,
        read_your_writes: bool | float = False,
    ) -> None:
        wait = _replication.check(read_your_writes)
        if lazy_loads not in _lazyload.MODES:
            raise ValueError(f"lazy_loads must be one of {_lazyload.MODES}, not {lazy_loads!r}")
        if n_plus_one not in _guards.N_PLUS_ONE_MODES:
            raise ValueError(
                f"n_plus_one must be one of {_guards.N_PLUS_ONE_MODES}, not {n_plus_one!r}"
            )
        if leaked_sessions not in _guards.LEAKED_SESSIONS_MODES:
            raise ValueError(
                f"leaked_sessions must be one of {_guards.LEAKED_SESSIONS_MODES}, "
                f"not {leaked_sessions!r}"
            )
        self.n_plus_one: _guards.NPlusOne = n_plus_one
        self._session_tracker = _guards.SessionTracker() if leaked_sessions == "warn" else None
        self.url, url_pooler = _pooler.split_option(self._resolve(_failover.split_hosts(url)))
        self.pooler = _pooler.check(pooler or url_pooler, self.url)
        self.lazy_loads: LazyLoads = lazy_loads
        self.cursor_secret = cursor_secret
        pool = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
            "pool_recycle": pool_recycle,
        }
        options = _pooler.engine_options(self.pooler, self.url, engine_options or {})
        self.engine = self._engine(self.url, echo, pool, options)
        self._routing_setup(
            [self._engine(self._replica_url(r), echo, pool, options) for r in replicas],
            None if wait is None else _replication.Lag(wait),
        )
        _lazyload.install()
        _guards.install()
        self._retries = Counters()
        self._disposed = False
        if slow_query_ms is not None:
            for engine in (self.engine, *self._replicas):
                _slowlog.install(engine.sync_engine, slow_query_ms)
        self._telemetry = _telemetry.setup(self, tracer_provider, meter_provider)
        info: dict[str, Any] = {
            _lazyload.INFO_KEY: lazy_loads,
            _guards.N_PLUS_ONE_KEY: n_plus_one,
            _pagination.SECRET_INFO_KEY: cursor_secret,
        }
        if self._telemetry is not None:
            info[_telemetry.INFO_KEY] = self._telemetry
            self._telemetry.instrument_database(self)
        self._sessionmaker: async_sessionmaker[AsyncSession] = self._maker(
            expire_on_commit=False,
            info=info,
            sqlops_tracker=self._session_tracker,
        )

    # The three things the sync twin (sqlops.sync) builds differently; all else is shared.

    def _resolve(self, url: str | URL | None) -> URL:
        resolved = resolve_url(url)
        require_driver(resolved)  # one line naming the extra, not SQLAlchemy's traceback
        return resolved

    def _replica_url(self, url: str | URL) -> URL:
        """A replica's URL, resolved like the primary's (its ``?pooler=`` is the primary's)."""
        return _pooler.split_option(self._resolve(_failover.split_hosts(url)))[0]

    def _engine(
        self, url: URL, echo: bool, pool: dict[str, Any], options: dict[str, Any]
    ) -> AsyncEngine:
        return make_engine(url, echo, pool, options)

    def _maker(self, **kw: Any) -> Any:
        return async_sessionmaker(self.engine, class_=_guards.GuardedAsyncSession, **kw)

    # ------------------------------------------------------------------ properties

    @property
    def dialect(self) -> str:
        """``"postgresql"``, ``"mysql"`` (MariaDB too) or ``"sqlite"``."""
        return dialect_family(self.url)

    @property
    def stats(self) -> RetryStats:
        """A snapshot of this Database's :meth:`run` counters (runs, attempts, conflicts,
        gave_up); subtract two snapshots to measure a stretch of work."""
        return self._retries.snapshot()

    def _observed(self) -> bool:
        """Whether something watches the statements: a query counter, tracing, echo.

        The fast paths (read templates, COPY) hand SQL straight to the driver and so skip
        SQLAlchemy's ``before_cursor_execute`` / ``after_cursor_execute`` events; when
        anyone listens (OpenTelemetry, ``count_queries``) or ``echo`` is on, sqlops takes
        the ordinary path so that every statement is seen.
        """
        for engine in (self.engine, *self._replicas):
            sync = engine.sync_engine
            dispatch = sync.dispatch
            if sync.echo or dispatch.before_cursor_execute or dispatch.after_cursor_execute:
                return True
        return False

    @property
    def driver(self) -> str:
        """The DBAPI driver: ``"asyncpg"``, ``"aiosqlite"``, ``"asyncmy"``…"""
        return str(self.engine.sync_engine.dialect.driver)

    @property
    def replicas(self) -> list[AsyncEngine]:
        """The replica engines, in configuration order."""
        return list(self._replicas)

    def __repr__(self) -> str:
        extra = f", replicas={len(self._replicas)}" if self._replicas else ""
        return f"Database({safe_url(self.url)!r}{extra})"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()

    async def dispose(self) -> None:
        """Close every pooled connection (primary and replicas).

        With ``leaked_sessions="warn"``, first warn about every session that was never
        closed, with where it was opened.
        """
        self._disposed = True
        if self._session_tracker is not None:
            self._session_tracker.report(repr(self))
        for engine in [self.engine, *self._replicas]:
            await engine.dispose()

    def __del__(self) -> None:
        pool: Any = self.engine.pool if hasattr(self, "engine") else None
        idle = getattr(pool, "checkedin", None)  # NullPool/StaticPool keep nothing idle
        if not getattr(self, "_disposed", True) and idle is not None and idle():
            warnings.warn(
                f"{self!r} was never disposed; call `await db.dispose()` or use "
                "`async with Database(...)`",
                ResourceWarning,
                stacklevel=1,
            )

    async def ping(self) -> None:
        """Round-trip a trivial statement; raise :class:`DatabaseUnavailableError` if it fails.

        A pooled connection that the server dropped (restart, failover, idle kill) is
        replaced and the ping tried once more on a fresh one, so a health check reports
        the server, not a stale connection: it does not flap after every failover.
        """
        for attempt in (1, 2):
            try:
                async with self.engine.connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")
                return
            except PoolTimeoutError:
                raise
            except DatabaseUnavailableError as exc:
                if attempt == 2:
                    raise
                logger.info("ping found a dropped connection, trying a fresh one: %s", exc)
            except SqlopsError:
                raise
            except Exception as exc:
                raise DatabaseUnavailableError(
                    f"cannot reach {safe_url(self.url)}: {type(exc).__name__}: {exc}"
                ) from exc

    async def create_all(self, metadata: MetaData) -> None:
        """Create every table of ``metadata`` that does not exist yet."""
        _translate.register_metadata(metadata)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def drop_all(self, metadata: MetaData) -> None:
        """Drop every table of ``metadata`` that exists."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)

    # ------------------------------------------------------------------ sessions

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a plain ``AsyncSession`` (``expire_on_commit=False``); the caller commits.

        On SQLite its write lock is taken at its first write, not its first read
        (:mod:`sqlops._sqlite_begin`): a session that only reads blocks no writer.
        """
        session = self._sessionmaker()
        try:
            if self.dialect == "sqlite":
                await session.connection(execution_options=_DEFERRED_BEGIN)
            yield session
        finally:
            await _transaction.close(session, quiet=False)

    @asynccontextmanager
    async def transaction(
        self, isolation: str | None = None, readonly: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """Yield a session in a transaction: commit on success, roll back on any exception.

        Cancellation included: the rollback and the close are shielded, so no connection
        is left "idle in transaction". ``readonly=True`` may be served by a replica, and
        a write inside it raises :class:`ReadOnlyTransactionError` on every backend.
        With ``read_your_writes`` on, a committed write transaction records the primary's
        WAL position, which the replica reads that follow wait for.
        """
        session = await self._begin(isolation, readonly, enforce=readonly)
        try:
            yield session
            await _failover.commit(session)  # AmbiguousCommitError if lost during COMMIT
            if self._lag is not None and not readonly:  # read-your-writes: where it ended
                await self._lag.note_commit(self._reader(self.engine))
        except BaseException:
            await quietly(session.rollback())
            raise
        finally:
            await _transaction.close(session)

    @asynccontextmanager
    async def savepoint(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        """Run a block in a SAVEPOINT; an exception rolls back to it only, then propagates."""
        async with session.begin_nested():
            yield session

    async def run(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        retries: int = 3,
        isolation: str | None = None,
        retry_disconnects: bool | float = False,
        **kwargs: Any,
    ) -> T:
        """Run ``fn(session, *args, **kwargs)`` in a fresh transaction, retrying conflicts.

        The whole transaction (commit included) is retried on serialization failure,
        deadlock or "database is locked", with capped jittered backoff. Constraint
        violations are never retried. :class:`TransactionConflictError` when retries
        run out. ``retry_disconnects=True`` (or a number of seconds; True is 30) also
        retries a transaction whose connection was lost before its COMMIT was sent, to
        wait out a restart or failover; a COMMIT cut off midway raises
        :class:`AmbiguousCommitError` and is never retried.
        """

        async def once() -> T:
            async with self.transaction(isolation=isolation) as session:
                return await fn(session, *args, **kwargs)

        attempt: Callable[[], Awaitable[T]] = once
        telemetry = self._telemetry
        if _failover.check_budget(retry_disconnects):
            notify = telemetry.note_retry if telemetry is not None else None
            attempt = _failover.reconnecting(attempt, retry_disconnects, notify)
        if telemetry is not None:
            return await telemetry.run(
                attempt, lambda traced: run_with_retries(traced, retries, self._retries)
            )
        return await run_with_retries(attempt, retries, self._retries)

    # ------------------------------------------------------------------ internals

    async def _begin(
        self, isolation: str | None, readonly: bool, *, enforce: bool = False
    ) -> AsyncSession:
        """Open a session whose transaction has started, on a replica when it can.

        ``enforce`` makes MariaDB and SQLite refuse writes too (PostgreSQL always does,
        at no cost); sqlops' own standalone reads skip it, as it costs them a statement.
        """
        options: dict[str, Any] = {}
        if isolation:
            options["isolation_level"] = isolation
        if readonly:
            options[READONLY_OPTION] = True
            if enforce:
                options[_dialects.ENFORCE_READONLY_OPTION] = True
            if self.dialect == "postgresql":
                options["postgresql_readonly"] = True
            if self._replicas:
                replica = await self._replica_session(options)
                if replica is not None:
                    return replica
        return await self._open(self._sessionmaker, options)

    async def _open(
        self, make: Callable[[], AsyncSession], options: dict[str, Any]
    ) -> AsyncSession:
        """``make()`` a session, check its connection out and begin, past a dead connection.

        On asyncpg (no ping at checkout) BEGIN is sent here, before the caller's block
        runs: a pooled connection that the server had already dropped fails at BEGIN,
        when nothing of the transaction has run, and one fresh connection is used
        instead (the pool's older ones are invalidated with it). Elsewhere the session
        stays lazy unless options must be applied.
        """
        eager = _dialects.begins_lazily(self.engine.sync_engine)
        if not (eager or options):
            return make()
        for attempt in (1, 2):
            session = make()
            try:
                conn = await session.connection(execution_options=options or None)
                lost = await _dialects.begin_now(conn) if eager else None
            except BaseException:
                await shielded(session.close())
                raise
            if lost is None:
                return session
            await shielded(session.close())
            if attempt == 2:
                raise DatabaseUnavailableError(
                    f"connection lost at BEGIN, twice: {type(lost).__name__}: {lost}"
                ) from lost
            logger.info("pooled connection was dead at BEGIN, using a new one: %s", lost)
        raise AssertionError("unreachable")  # pragma: no cover
