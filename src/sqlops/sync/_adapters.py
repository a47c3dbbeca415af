"""The async faces of sync SQLAlchemy objects, for the shared core to await.

sqlops' repository and transaction logic is written once, as coroutines over an
``AsyncSession``, ``AsyncConnection`` and ``AsyncEngine``. Here each of those is given
over a *sync* engine: the session is SQLAlchemy's own ``AsyncSession`` whose methods the
core calls call the sync session straight through (:func:`sqlops._runtime.call_explicit`
marks those loads as explicit for the lazy-load guard, as ``greenlet_spawn`` does for an
async session, without a greenlet per call); connections and engines are small wrappers
whose ``async def`` methods call straight through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import util
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, sessionmaker

from sqlops._runtime import call_explicit

from . import _copy

_BUFFERED = util.immutabledict({"prebuffer_rows": True})


class SessionAdapter(AsyncSession):
    """An ``AsyncSession`` over an existing sync ``Session`` (sqlops' or the caller's)."""

    def __init__(self, sync_session: Session) -> None:
        self._async_bind = None
        self._async_binds = {}
        self.sync_session = self._proxied = self._assign_proxied(sync_session)

    async def execute(
        self,
        statement: Any,
        params: Any = None,
        *,
        execution_options: Any = util.EMPTY_DICT,
        **kw: Any,
    ) -> Any:
        """``Session.execute``, buffered as ``AsyncSession.execute`` is.

        The async version then soft-closes the async driver's cursor; a sync cursor
        has nothing of the kind, so this is that method without its last step.
        """
        options = util.immutabledict(execution_options).union(_BUFFERED)
        return call_explicit(
            self.sync_session.execute,
            statement,
            params=params,
            execution_options=options,
            **kw,
        )

    async def connection(self, *args: Any, **kw: Any) -> Any:
        """The session's connection, with the async face the core expects."""
        return ConnectionAdapter(call_explicit(self.sync_session.connection, *args, **kw))

    @staticmethod
    def face_of(connection: Connection) -> ConnectionAdapter:
        """A connection the session already holds, with the async face the core expects."""
        return ConnectionAdapter(connection)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return call_explicit(fn, self.sync_session, *args, **kw)


def _direct(name: str) -> Callable[..., Any]:
    """``AsyncSession.<name>``: the sync session's method, called straight through."""

    async def call(self: SessionAdapter, *args: Any, **kw: Any) -> Any:
        return call_explicit(getattr(self.sync_session, name), *args, **kw)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``Session.{name}``, called directly (a blocking driver never waits)."
    return call


# Everything AsyncSession would run through greenlet_spawn; execute-based ones
# (scalars, scalar, stream) already reach the execute above.
for _name in (
    *("get", "get_one", "refresh", "delete", "delete_all", "merge", "merge_all", "flush"),
    *("commit", "rollback", "close", "reset", "invalidate"),
):
    if hasattr(AsyncSession, _name):
        setattr(SessionAdapter, _name, _direct(_name))


class ConnectionAdapter:
    """The parts of ``AsyncConnection`` the core uses, over a sync ``Connection``."""

    __slots__ = ("sync_connection",)

    def __init__(self, sync_connection: Connection) -> None:
        self.sync_connection = sync_connection

    @property
    def dialect(self) -> Any:
        return self.sync_connection.dialect

    async def execute(self, statement: Any, *args: Any, **kw: Any) -> Any:
        return self.sync_connection.execute(statement, *args, **kw)  # sqlops: ignore[SQA013]

    async def exec_driver_sql(self, statement: str, *args: Any, **kw: Any) -> Any:
        run = self.sync_connection.exec_driver_sql  # blocking by design: driven without a loop
        return run(statement, *args, **kw)  # sqlops: ignore[SQA013]

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return fn(self.sync_connection, *args, **kw)

    async def get_raw_connection(self) -> Any:
        conn = self.sync_connection
        return _copy.RawConnection(conn.connection, conn.dialect.driver)

    async def invalidate(self, exception: BaseException | None = None) -> None:
        self.sync_connection.invalidate(exception)


class EngineAdapter:
    """The parts of ``AsyncEngine`` the core uses, over a sync ``Engine``."""

    __slots__ = ("sync_engine",)

    def __init__(self, sync_engine: Engine) -> None:
        self.sync_engine = sync_engine

    @property
    def pool(self) -> Any:
        return self.sync_engine.pool

    @property
    def dialect(self) -> Any:
        return self.sync_engine.dialect

    @property
    def url(self) -> Any:
        return self.sync_engine.url

    def execution_options(self, **options: Any) -> EngineAdapter:
        return EngineAdapter(self.sync_engine.execution_options(**options))

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[ConnectionAdapter]:
        with self.sync_engine.connect() as conn:  # sqlops: ignore[SQA013]
            yield ConnectionAdapter(conn)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[ConnectionAdapter]:
        with self.sync_engine.begin() as conn:  # sqlops: ignore[SQA013]
            yield ConnectionAdapter(conn)

    async def dispose(self) -> None:
        self.sync_engine.dispose()


class SessionFactory:
    """An ``async_sessionmaker`` look-alike: each call a :class:`SessionAdapter`."""

    __slots__ = ("maker",)

    def __init__(self, maker: sessionmaker[Any]) -> None:
        self.maker = maker

    def __call__(self, bind: EngineAdapter | None = None) -> SessionAdapter:
        if bind is None:
            return SessionAdapter(self.maker())
        return SessionAdapter(self.maker(bind=bind.sync_engine))
