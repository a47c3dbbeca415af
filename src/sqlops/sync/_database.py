"""sync.Database: the async Database's own logic, run to completion over a sync engine."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, sessionmaker

from sqlops import _database, _engines, _failures, _guards
from sqlops._runtime import drive, drive_context
from sqlops._transaction import RetryStats
from sqlops._url import require_driver, resolve_sync_url

from . import _driver
from ._adapters import EngineAdapter, SessionAdapter, SessionFactory
from ._guards import ThreadGuardedSession

T = TypeVar("T")


class _Core(_database.Database):
    """The async :class:`sqlops.Database` over a sync engine: what the shared core awaits.

    Only the URL, the engine and the session factory differ; transactions, retries,
    standalone reads and replicas are the async class's own methods, driven by
    :func:`sqlops._runtime.drive`.
    """

    def _resolve(self, url: str | URL | None) -> URL:
        resolved = resolve_sync_url(url)
        require_driver(resolved)
        return resolved

    def _engine(self, url: URL, echo: bool, pool: dict[str, Any], options: dict[str, Any]) -> Any:
        # Unless asked for, no pre-ping round trip per checkout: the socket is looked at
        # instead (sqlops.sync._driver.watch_liveness), as asyncpg's is in the async API.
        cheap = "pool_pre_ping" not in options and url.get_backend_name() != "sqlite"
        if cheap:
            options = {**options, "pool_pre_ping": False}
        engine = _engines.make_sync_engine(url, echo, pool, options)
        if cheap:
            _driver.watch_liveness(engine)
        _driver.install_lane(engine, watched=cheap)
        return EngineAdapter(engine)

    async def _driver_read(self, use: Callable[[Any], Awaitable[T]]) -> T:
        """A template read on a pooled sync connection (a replica if any); retry a lost one."""
        return await self._on_read_target(lambda engine: _driver.lend(engine.sync_engine, use))

    def _maker(self, **kw: Any) -> Any:
        if kw.get("sqlops_tracker") is None:
            kw.pop("sqlops_tracker", None)
        return SessionFactory(
            sessionmaker(self.engine.sync_engine, class_=ThreadGuardedSession, **kw)
        )

    def __repr__(self) -> str:  # names the leak report's owner
        return f"sync.{super().__repr__()}"

    def __del__(self) -> None:
        pass  # the public sync.Database warns about a Database never disposed


class _Scope(AbstractContextManager[Session]):
    """One of the async Database's session scopes, entered synchronously: its ``Session``.

    The async scope's own code runs (commit, rollback, shielded close); this only hands
    out the sync session inside its adapter, without a generator frame per scope.
    """

    __slots__ = ("_scope",)

    def __init__(self, scope: AbstractAsyncContextManager[AsyncSession]) -> None:
        self._scope = drive_context(scope)

    def __enter__(self) -> Session:
        return self._scope.__enter__().sync_session

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return self._scope.__exit__(typ, exc, tb)


class Database:
    """Own a sync engine (plus optional read replicas) and hand out ``Session`` objects.

    ``url=None`` reads ``$DATABASE_URL`` and falls back to ``sqlite:///./sqlops.db`` (the
    same file as the async default). Plain ``postgresql://`` gets psycopg (3),
    ``mysql://`` / ``mariadb://`` PyMySQL, ``sqlite://`` the standard library's sqlite3.

    ::

        with sqlops.sync.Database("postgresql://app@db/app") as db:
            with db.transaction() as session:
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
        pool_pre_ping: bool | None = None,
        lazy_loads: _database.LazyLoads = "raise",
        engine_options: dict[str, Any] | None = None,
        cursor_secret: str | bytes | None = None,
        n_plus_one: _guards.NPlusOne = "off",
        leaked_sessions: _guards.LeakedSessions = "off",
        read_your_writes: bool | float = False,
        pooler: str | None = None,
    ) -> None:
        options = dict(engine_options or {})
        if pool_pre_ping is not None:
            options.setdefault("pool_pre_ping", pool_pre_ping)
        self._core = _Core(
            url,
            replicas=replicas,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            lazy_loads=lazy_loads,
            engine_options=options,
            cursor_secret=cursor_secret,
            n_plus_one=n_plus_one,
            leaked_sessions=leaked_sessions,
            read_your_writes=read_your_writes,
            pooler=pooler,
        )

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> URL:
        """The resolved URL (its sync driver filled in)."""
        return self._core.url

    @property
    def engine(self) -> Engine:
        """The sync SQLAlchemy ``Engine``."""
        return self._core.engine.sync_engine

    @property
    def replicas(self) -> list[Engine]:
        """The replica engines, in configuration order."""
        return [replica.sync_engine for replica in self._core.replicas]

    @property
    def dialect(self) -> str:
        """``"postgresql"``, ``"mysql"`` (MariaDB too) or ``"sqlite"``."""
        return self._core.dialect

    @property
    def driver(self) -> str:
        """The DBAPI driver: ``"psycopg"``, ``"pymysql"``, ``"pysqlite"``."""
        return self._core.driver

    @property
    def pooler(self) -> str | None:
        """``"pgbouncer"`` when told so (argument or ``?pooler=``): no named statements."""
        return self._core.pooler

    @property
    def cursor_secret(self) -> str | bytes | None:
        return self._core.cursor_secret

    @property
    def lazy_loads(self) -> _database.LazyLoads:
        return self._core.lazy_loads

    @property
    def stats(self) -> RetryStats:
        """A snapshot of this Database's :meth:`run` counters."""
        return self._core.stats

    def __repr__(self) -> str:
        return repr(self._core)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    def dispose(self) -> None:
        """Close every pooled connection (primary and replicas).

        With ``leaked_sessions="warn"``, first warn (:class:`SessionLeakWarning`) about every
        session that was never closed, with where it was opened.
        """
        drive(self._core.dispose())

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        pool: Any = core.engine.pool if core is not None else None
        idle = getattr(pool, "checkedin", None)
        if core is not None and not core._disposed and idle is not None and idle():
            warnings.warn(
                f"{self!r} was never disposed; call `db.dispose()` or use "
                "`with sync.Database(...)`",
                ResourceWarning,
                stacklevel=1,
            )

    def ping(self) -> None:
        """Round-trip a trivial statement; :class:`DatabaseUnavailableError` if it fails."""
        drive(self._core.ping())

    def create_all(self, metadata: MetaData) -> None:
        """Create every table of ``metadata`` that does not exist yet."""
        drive(self._core.create_all(metadata))

    def drop_all(self, metadata: MetaData) -> None:
        """Drop every table of ``metadata`` that exists."""
        drive(self._core.drop_all(metadata))

    # ------------------------------------------------------------------ sessions

    def session(self) -> AbstractContextManager[Session]:
        """Yield a plain ``Session`` (``expire_on_commit=False``); the caller commits."""
        return _Scope(self._core.session())

    def transaction(
        self, isolation: str | None = None, readonly: bool = False
    ) -> AbstractContextManager[Session]:
        """Yield a session in a transaction: commit on success, roll back on any exception.

        ``readonly=True`` may be served by a replica, and a write inside it raises
        :class:`ReadOnlyTransactionError` on every backend.
        """
        return _Scope(self._core.transaction(isolation, readonly))

    @contextmanager
    def savepoint(self, session: Session) -> Iterator[Session]:
        """Run a block in a SAVEPOINT; an exception rolls back to it only, then propagates."""
        with drive_context(self._core.savepoint(SessionAdapter(session))):
            yield session
            failure = _failures.pending(session)
            if failure is not None:  # the block swallowed an error that broke the savepoint
                raise _failures.aborted(failure, "leaving the savepoint block", sync=True)

    def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        retries: int = 3,
        isolation: str | None = None,
        **kwargs: Any,
    ) -> T:
        """Run ``fn(session, *args, **kwargs)`` in a fresh transaction, retrying conflicts.

        The whole transaction (commit included) is retried on serialization failure,
        deadlock or "database is locked", with capped jittered backoff; constraint
        violations never are. :class:`TransactionConflictError` when retries run out.
        """

        async def call(session: SessionAdapter, *a: Any, **kw: Any) -> T:
            return fn(session.sync_session, *a, **kw)

        return drive(self._core.run(call, *args, retries=retries, isolation=isolation, **kwargs))
