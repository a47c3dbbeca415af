"""Database: one URL in, a configured engine, sessions and transactions out."""

from __future__ import annotations

import functools
import itertools
import logging
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool, StaticPool
from sqlalchemy.util import greenlet_spawn

from . import (
    _aiosqlite,
    _dialects,
    _failover,
    _guards,
    _lazyload,
    _pagination,
    _pooler,
    _slowlog,
    _telemetry,
    _translate,
)
from ._dialects import configure_engine
from ._errors import DatabaseUnavailableError, SqlopsError
from ._transaction import Counters, RetryStats, quietly, run_with_retries, shielded
from ._url import dialect_family, is_memory_sqlite, require_driver, resolve_url, safe_url

logger = logging.getLogger("sqlops")

T = TypeVar("T")
LazyLoads = Literal["raise", "warn", "allow"]

READONLY_OPTION = _dialects.READONLY_OPTION
AUTOCOMMIT_OPTION = "sqlops_autocommit"
_REPLICA_RETRY_AFTER = 5.0


class Database:
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
    ) -> None:
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
        self._replicas = [self._engine(self._replica_url(r), echo, pool, options) for r in replicas]
        self._replica_down: dict[int, float] = {}
        self._readers: dict[int, AsyncEngine] = {}
        self._replica_cycle = itertools.cycle(range(len(self._replicas)))
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
        return _make_engine(url, echo, pool, options)

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
        """Yield a plain ``AsyncSession`` (``expire_on_commit=False``); the caller commits."""
        session = self._sessionmaker()
        try:
            yield session
        finally:
            await shielded(session.close())

    @asynccontextmanager
    async def transaction(
        self, isolation: str | None = None, readonly: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """Yield a session in a transaction: commit on success, roll back on any exception.

        Cancellation included: the rollback and the close are shielded, so no connection
        is left "idle in transaction". ``readonly=True`` may be served by a replica, and
        a write inside it raises :class:`ReadOnlyTransactionError` on every backend.
        """
        session = await self._begin(isolation, readonly, enforce=readonly)
        try:
            yield session
            await _failover.commit(session)  # AmbiguousCommitError if lost during COMMIT
        except BaseException:
            await quietly(session.rollback())
            raise
        finally:
            await quietly(session.close())

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

    async def _read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a standalone read ``fn(session)``; retry once if the connection was lost.

        On PostgreSQL the read runs in autocommit: one statement is consistent on its
        own, and BEGIN / COMMIT would triple the round trips of a primary-key read.
        Reads are idempotent, so a connection that died under us is replaced and the
        read repeated once.
        """
        for attempt in (1, 2):
            session = await self._read_session()
            try:
                result = await fn(session)
                if session.in_transaction():
                    await session.commit()
                return result
            except DatabaseUnavailableError as exc:
                if attempt == 2 or isinstance(exc, PoolTimeoutError):
                    raise
                logger.info("connection lost during a read, retrying once: %s", exc)
            finally:
                await quietly(session.close())
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_target(self) -> tuple[int | None, AsyncEngine]:
        """The next replica that is not known to be down, else the primary."""
        for _ in range(len(self._replicas)):
            index = next(self._replica_cycle)
            down_since = self._replica_down.get(index)
            if down_since is None or time.monotonic() - down_since >= _REPLICA_RETRY_AFTER:
                return index, self._replicas[index]
        return None, self.engine

    def _mark_down(self, index: int | None, exc: BaseException) -> None:
        if index is not None:
            self._replica_down[index] = time.monotonic()
            logger.warning("replica %d is unavailable, skipping it: %s", index, exc)

    def _reader(self, engine: AsyncEngine) -> AsyncEngine:
        """``engine`` set up for a single-statement read (autocommit where it is free)."""
        found = self._readers.get(id(engine))
        if found is None:
            if self.dialect == "postgresql":
                found = engine.execution_options(isolation_level="AUTOCOMMIT")
            elif self.dialect == "sqlite":
                found = engine.execution_options(**{AUTOCOMMIT_OPTION: True})
            else:
                found = engine
            self._readers[id(engine)] = found
        return found

    async def _core_read(self, use: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a read on a pooled Core connection (a replica if any); retry a lost one."""
        failure: DatabaseUnavailableError | None = None
        for _ in range(2 + len(self._replicas)):
            index, engine = self._read_target()
            try:
                async with self._reader(engine).connect() as conn:
                    return await use(conn)
            except PoolTimeoutError:
                raise
            except DatabaseUnavailableError as exc:
                failure = exc
                self._mark_down(index, exc)
        assert failure is not None
        raise failure

    async def _driver_read(self, use: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``use(driver_connection)`` on a pooled connection; retry a lost one."""
        failure: DatabaseUnavailableError | None = None
        for _ in range(2 + len(self._replicas)):
            index, engine = self._read_target()
            try:
                return await _with_driver(engine, use)
            except PoolTimeoutError:
                raise
            except DatabaseUnavailableError as exc:
                failure = exc
                self._mark_down(index, exc)
        assert failure is not None
        raise failure

    async def _read_session(self) -> AsyncSession:
        if self.dialect != "postgresql":
            return await self._begin(None, True)
        options = {"isolation_level": "AUTOCOMMIT"}
        if self._replicas:
            replica = await self._replica_session(options)
            if replica is not None:
                return replica
        session = self._sessionmaker()
        try:
            await session.connection(execution_options=options)
        except BaseException:
            await shielded(session.close())
            raise
        return session

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

    async def _replica_session(self, options: dict[str, Any]) -> AsyncSession | None:
        """A session on the next replica that is up, or None to use the primary."""
        for _ in range(len(self._replicas)):
            index = next(self._replica_cycle)
            down_since = self._replica_down.get(index)
            if down_since is not None and time.monotonic() - down_since < _REPLICA_RETRY_AFTER:
                continue
            make = functools.partial(self._sessionmaker, bind=self._replicas[index])
            try:
                session = await self._open(make, options)
            except PoolTimeoutError:
                raise  # busy, not down: as on the other read paths
            except (DatabaseUnavailableError, OSError) as exc:
                self._mark_down(index, exc)
                continue
            self._replica_down.pop(index, None)
            return session
        return None


def _make_engine(
    url: URL, echo: bool, pool: dict[str, Any], engine_options: dict[str, Any]
) -> AsyncEngine:
    engine: AsyncEngine = _build_engine(url, echo, pool, engine_options, blocking=False)
    return engine


def make_sync_engine(
    url: URL, echo: bool, pool: dict[str, Any], engine_options: dict[str, Any]
) -> Engine:
    """The sync twin's engine: the same pool and connection set-up, over a sync driver."""
    engine: Engine = _build_engine(url, echo, pool, engine_options, blocking=True)
    return engine


def _build_engine(
    url: URL, echo: bool, pool: dict[str, Any], engine_options: dict[str, Any], *, blocking: bool
) -> Any:
    """The configured engine for ``url``: async, or (``blocking``, the sync twin) sync."""
    family = dialect_family(url)
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if family in ("postgresql", "mysql"):
        # asyncpg: liveness is checked at checkout without a round trip (_dialects).
        options.update(pool_pre_ping=family == "mysql" or url.get_driver_name() != "asyncpg")
        options.update(poolclass=_SyncQueuePool if blocking else _QueuePool)
        options.update({k: v for k, v in pool.items() if v is not None})
        if family == "mysql":
            options.setdefault("pool_recycle", 3600)
    elif not is_memory_sqlite(url):
        options["poolclass"] = _SyncQueuePool if blocking else _QueuePool
        options.update({k: v for k, v in pool.items() if v is not None})
    elif blocking:  # one in-memory database shared by every thread, as by every task
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    if family == "sqlite":
        options["pool_reset_on_return"] = None  # a "reset" hook rolls back only if needed
    options.update(engine_options)
    engine: Any = (create_engine if blocking else create_async_engine)(url, **options)
    sync_engine: Engine = engine if blocking else engine.sync_engine
    configure_engine(sync_engine, family, url)
    if family == "sqlite" and not blocking:
        _aiosqlite.release_locks_on_invalidate(sync_engine)
    event.listen(sync_engine, "handle_error", _translate.on_handle_error)
    if family != "sqlite" and not blocking:  # aiosqlite's work from any loop; others do not
        _guards.watch_loop(sync_engine, f"Database({safe_url(url)!r})")
    return engine


async def _with_driver(engine: AsyncEngine, use: Callable[[Any], Awaitable[T]]) -> T:
    """Lend ``use`` the driver connection of a pooled connection, then return it.

    Driver errors are translated here (they bypass SQLAlchemy's hook); a connection
    that failed at the transport level, or whose call was cancelled midway, is
    discarded instead of going back to the pool. No transaction is started on this
    path, so giving the connection back usually does no IO and completes inside
    ``greenlet_spawn`` without yielding; it only awaits when the pool closes the
    connection (NullPool, overflow), which needs the greenlet.
    """
    fairy = await engine.raw_connection()
    try:
        return await use(fairy.driver_connection)
    except Exception as exc:
        err = _translate.translate(exc)
        is_closed = getattr(fairy.driver_connection, "is_closed", None)  # asyncpg only
        if isinstance(err, DatabaseUnavailableError) or (is_closed is not None and is_closed()):
            _dialects.invalidate_all(fairy, exc)  # as SQLAlchemy does on its own paths
            err = err or DatabaseUnavailableError(f"connection lost: {type(exc).__name__}")
        if err is None:
            raise
        raise err from exc
    except BaseException as exc:  # cancelled mid-call: the connection's state is unknown
        fairy.invalidate(exc)
        raise
    finally:
        await greenlet_spawn(fairy.close)


class _SyncQueuePool(QueuePool):
    """A queue pool whose failures say what happened and what to change.

    The sync twin (:mod:`sqlops.sync`) uses it as is; :class:`_QueuePool` adapts it to asyncio.
    """

    def connect(self) -> Any:
        """Check a connection out; a failure to open one is a DatabaseUnavailableError.

        A server going down can accept the TCP connection and then drop it while
        SQLAlchemy's connect handlers set it up (asyncpg's type codecs, the first
        rollback); those raise the driver's own errors, which no ``handle_error`` hook
        sees on this path.
        """
        try:
            return super().connect()
        except SqlopsError:
            raise
        except Exception as exc:
            raise DatabaseUnavailableError(
                f"cannot open a connection: {type(exc).__name__}: {exc}"
            ) from exc

    def _do_get(self) -> Any:
        try:
            record = super()._do_get()
        except sa_exc.TimeoutError as exc:
            raise PoolTimeoutError(
                f"connection pool exhausted: all {self.size()} connections and "
                f"{self._max_overflow} overflow are in use and none was returned within "
                f"{self._timeout:g}s (pool_size={self.size()}, max_overflow="
                f"{self._max_overflow}, pool_timeout={self._timeout:g}); raise them, or "
                "release sessions sooner"
            ) from exc
        return record


class _QueuePool(_SyncQueuePool, AsyncAdaptedQueuePool):
    """The async queue pool; a connection is handed out only on the loop that opened it."""

    def _do_get(self) -> Any:
        record = super()._do_get()
        try:
            _guards.check_loop(record)
        except BaseException:
            self._do_return_conn(record)  # untouched: it belongs to its own loop
            raise
        return record


class PoolTimeoutError(DatabaseUnavailableError, sa_exc.TimeoutError):
    """No pooled connection became free within ``pool_timeout``."""

    code = None  # our message already says what to change
