"""Run the async contract tests against the sync API: awaitable faces of sync objects.

A test written for ``sqlops.Database`` / ``sqlops.Repository`` runs unchanged on
``sqlops.sync`` when its ``db`` is a :class:`TwinDatabase` and ``sqlops.Repository`` is
:func:`twin_repository`: every call goes through the blocking API and only the result
is handed back through an ``await``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from sqlops import sync
from sqlops._runtime import drive
from sqlops.sync._adapters import SessionAdapter
from sqlops.sync._repository import public_methods

_COROUTINES = {
    name
    for name, fn in public_methods().items()
    if fn.__code__.co_flags & 0x80  # CO_COROUTINE
}


class TwinDatabase(sync.Database):
    """A ``sqlops.Database`` look-alike whose every method is the sync Database's.

    A ``sync.Database`` itself (sharing the wrapped one's core), so ``count_queries(db)``
    counts on it as it would on the sync Database.
    """

    def __init__(self, db: sync.Database) -> None:
        self.sync = db
        self._core = db._core

    @property
    def engine(self) -> Any:  # type: ignore[override]
        """An ``AsyncEngine`` look-alike (``.sync_engine``), as the async tests expect."""
        return self._core.engine

    @property
    def _session_tracker(self) -> Any:  # type: ignore[override]
        return self._core._session_tracker

    async def __aenter__(self) -> TwinDatabase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.sync.dispose()

    async def create_all(self, metadata: Any) -> None:  # type: ignore[override]
        self.sync.create_all(metadata)

    async def drop_all(self, metadata: Any) -> None:  # type: ignore[override]
        self.sync.drop_all(metadata)

    async def ping(self) -> None:  # type: ignore[override]
        self.sync.ping()

    async def dispose(self) -> None:  # type: ignore[override]
        self.sync.dispose()

    @asynccontextmanager  # type: ignore[override]
    async def session(self) -> AsyncIterator[AsyncSession]:
        with self.sync.session() as session:
            yield SessionAdapter(session)

    @asynccontextmanager  # type: ignore[override]
    async def transaction(
        self, isolation: str | None = None, readonly: bool = False
    ) -> AsyncIterator[AsyncSession]:
        with self.sync.transaction(isolation, readonly) as session:
            yield SessionAdapter(session)

    @asynccontextmanager  # type: ignore[override]
    async def savepoint(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        with self.sync.savepoint(session.sync_session):
            yield session

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        def call(session: Any, *a: Any, **kw: Any) -> Any:
            return drive(fn(SessionAdapter(session), *a, **kw))

        return self.sync.run(call, *args, **kwargs)


class TwinRepository:
    """A ``sqlops.Repository`` look-alike over a ``sync.Repository``."""

    def __init__(self, repo: sync.Repository[Any]) -> None:
        self.sync = repo
        self.model = repo.model

    @property
    def db(self) -> Any:
        """The Database a standalone repository calls (the sync one's core), else None."""
        return self.sync._async.db

    @property
    def session(self) -> AsyncSession | None:
        """The async face of the injected session (None standalone), as tests read it."""
        return self.sync._async.session

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)
        if name == "stream":

            def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                return _aiter(method(*args, **kwargs))

            return stream
        if name not in _COROUTINES:
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


async def _aiter(items: Any) -> AsyncIterator[Any]:
    try:
        for item in items:
            yield item
    finally:
        items.close()


def twin_database(url: Any = None, **kwargs: Any) -> TwinDatabase:
    """``sqlops.Database(url, ...)`` for a twin test: a sync Database inside."""
    return TwinDatabase(sync.Database(sync_url(url), **kwargs))


def sync_url(url: Any) -> URL:
    """The same database, its async driver swapped for the sync default."""
    parsed = make_url(url)
    return parsed.set(drivername=parsed.get_backend_name())


def twin_repository(model: type[Any], bind: Any) -> TwinRepository:
    """``sqlops.Repository(model, bind)`` for a twin test: the sync Repository inside."""
    if isinstance(bind, TwinDatabase):
        return TwinRepository(sync.Repository(model, bind.sync))
    if isinstance(bind, AsyncSession):
        return TwinRepository(sync.Repository(model, bind.sync_session))
    return TwinRepository(sync.Repository(model, bind))  # its own refusal of other binds
