"""FastAPI glue: a request-scoped transaction, a lifespan, error responses, query filters.

::

    from typing import Annotated

    import sqlops
    import sqlops.fastapi
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

    db = sqlops.Database()
    app = FastAPI(lifespan=sqlops.fastapi.lifespan(db))
    sqlops.fastapi.install_exception_handlers(app)
    Tx = Annotated[AsyncSession, sqlops.fastapi.transaction(db)]

    @app.post("/users", status_code=201)
    async def create_user(body: UserIn, session: Tx) -> UserOut:
        return await sqlops.Repository(User, session).create(**body.model_dump())

The transaction commits when the route returns and *before* the response is sent, so a
failed commit becomes an error response (409, 503) instead of a 200 for a lost write.
This module imports FastAPI; ``import sqlops`` does not.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlops import MissingDependencyError  # via sqlops: shown as sqlops.MissingDependencyError

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse
except ModuleNotFoundError as exc:  # pragma: no cover - tested in the bare-install check
    if exc.name not in ("fastapi", "starlette", "pydantic"):
        raise
    raise MissingDependencyError(
        "sqlops.fastapi needs FastAPI: pip install 'sqlops[fastapi]'",
        extra="fastapi",
        name=exc.name,
    ) from None
from sqlalchemy.ext.asyncio import AsyncSession

from . import _httperrors
from ._database import Database
from ._errors import SqlopsError
from ._fastapi_crud import crud_router
from ._fastapi_params import (
    MAX_PAGE as MAX_PAGE,
)
from ._fastapi_params import (
    SEARCH_PARAM,
    cursor_params,
    etag,
    if_match,
    ordering,
    page_params,
    parse_if_match,
    query_filters,
)
from ._httperrors import error_body
from ._params import (
    RESERVED_PARAMS,
    CursorParams,
    PageParams,
    parse_filters,
    parse_ordering,
)

if "scope" not in inspect.signature(Depends).parameters:  # pragma: no cover - old FastAPI
    # Before 0.121 there is no way to say "run the exit code before the response is
    # sent" on FastAPI 0.118-0.120, so a failed commit would follow a 200: refuse.
    raise ImportError(
        "sqlops.fastapi needs FastAPI >= 0.121 (Depends(scope='function')), so that the "
        "transaction commits before the response is sent; upgrade FastAPI"
    )

_STATUS = _httperrors.STATUS

logger = logging.getLogger("sqlops.fastapi")

STATE_KEY = "sqlops_db"
SYNC_STATE_KEY = "sqlops_sync_db"

# ----------------------------------------------------------------------------- sessions


def transaction(
    db: Database | None = None, *, isolation: str | None = None, readonly: bool = False
) -> Any:
    """Depend on a session in a transaction: commit when the route returns, else roll back.

    Returns a ``Depends`` marker: ``Annotated[AsyncSession, transaction(db)]``. It has
    ``scope="function"``: the commit runs before the response is sent, so a commit that
    fails (a deferred constraint, a lost connection) becomes the error response. Any
    exception the route raises, ``HTTPException`` included, rolls the transaction back.
    Without ``db``, the one :func:`lifespan` stored on ``app.state`` is used. Every
    ``transaction(db)`` with the same arguments is one session per request, however
    many dependencies of the route ask for it.
    """
    dependency = _SessionDependency(db, isolation=isolation, readonly=readonly)
    return Depends(dependency, scope="function")


def session(db: Database | None = None) -> Any:
    """Depend on a plain session (no transaction management): the route commits itself.

    Closed (uncommitted work rolled back) when the route returns, before the response.
    """
    return Depends(_SessionDependency(db, managed=False), scope="function")


class _SessionDependency:
    """Yield the request's session; equal instances are one dependency to FastAPI.

    FastAPI caches a dependency's value per request by its callable, so two routes'
    helpers that each ask for ``transaction(db)`` get the same session — and one
    transaction — as long as the callables compare equal. Closures would not.
    """

    def __init__(
        self,
        db: Database | None,
        *,
        managed: bool = True,
        isolation: str | None = None,
        readonly: bool = False,
    ) -> None:
        self.db = db
        self.options = (managed, isolation, readonly)
        # FastAPI reads the parameters from the signature; give it real classes, as an
        # instance has no module globals to resolve string annotations in.
        request = inspect.Parameter(
            "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
        )
        self.__signature__ = inspect.Signature([request])

    async def __call__(self, request: Request) -> AsyncIterator[AsyncSession]:
        database = _database(self.db, request)
        managed, isolation, readonly = self.options
        if not managed:
            async with database.session() as plain:
                yield plain
            return
        async with database.transaction(isolation=isolation, readonly=readonly) as session:
            yield session

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _SessionDependency)
            and self.db is other.db
            and self.options == other.options
        )

    def __hash__(self) -> int:
        return hash((id(self.db), self.options))


def sync_transaction(
    db: Any = None, *, isolation: str | None = None, readonly: bool = False
) -> Any:
    """:func:`transaction` for ``def`` routes: a ``sqlalchemy.orm.Session`` of a
    ``sqlops.sync.Database``, committed before the response is sent, else rolled back.

    Without ``db``, the one stored as ``app.state.sqlops_sync_db`` is used.
    """
    dependency = _SyncSessionDependency(db, isolation=isolation, readonly=readonly)
    return Depends(dependency, scope="function")


def sync_session(db: Any = None) -> Any:
    """:func:`session` for ``def`` routes: a plain sync ``Session``; the route commits."""
    return Depends(_SyncSessionDependency(db, managed=False), scope="function")


class _SyncSessionDependency(_SessionDependency):
    """The sync twin's session per request (FastAPI runs it in its thread pool)."""

    def __call__(self, request: Request) -> Iterator[Any]:  # type: ignore[override]
        database: Any = self.db or getattr(request.app.state, SYNC_STATE_KEY, None)
        if database is None:
            raise RuntimeError(
                "no sqlops.sync.Database: pass one (sqlops.fastapi.sync_transaction(db)) "
                "or set app.state.sqlops_sync_db"
            )
        managed, isolation, readonly = self.options
        if not managed:
            with database.session() as plain:
                yield plain
            return
        with database.transaction(isolation=isolation, readonly=readonly) as session:
            yield session

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and super().__eq__(other)

    def __hash__(self) -> int:
        return hash((type(self), id(self.db), self.options))


def database(db: Database | None = None) -> Any:
    """Depend on the :class:`Database` itself: for streaming, ``db.run()``, standalone repos.

    A ``StreamingResponse`` body runs after the route (and its transaction) has ended;
    a standalone ``Repository(Model, db).stream()`` opens its own read transaction.
    """

    def sqlops_database(request: Request) -> Database:
        return _database(db, request)

    return Depends(sqlops_database)


def _database(db: Database | None, request: Request) -> Database:
    if db is not None:
        return db
    found = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(found, Database):
        raise RuntimeError(
            "no Database: pass one (sqlops.fastapi.transaction(db)) or create the app with "
            "FastAPI(lifespan=sqlops.fastapi.lifespan(db))"
        )
    return found


def lifespan(
    db: Database, *, ping: bool = True
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that pings ``db`` at startup, stores it on ``app.state`` and disposes it.

    A failed ping (:class:`DatabaseUnavailableError`) stops the startup: better no
    server than one that answers 503 to everything. To combine with your own lifespan,
    ``async with sqlops.fastapi.lifespan(db)(app):`` inside it.
    """

    @asynccontextmanager
    async def sqlops_lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if ping:
                await db.ping()
            setattr(app.state, STATE_KEY, db)
            yield
        finally:
            await db.dispose()

    return sqlops_lifespan


def sync_lifespan(
    db: Any, *, ping: bool = True
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """:func:`lifespan` for a ``sqlops.sync.Database``: ping, store, dispose.

    The database is stored as ``app.state.sqlops_sync_db``, where :func:`sync_transaction`
    and :func:`sync_session` find it. The blocking ping and dispose run in the thread pool,
    off the event loop.
    """

    @asynccontextmanager
    async def sqlops_sync_lifespan(app: FastAPI) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        try:
            if ping:
                await run_in_threadpool(db.ping)
            setattr(app.state, SYNC_STATE_KEY, db)
            yield
        finally:
            await run_in_threadpool(db.dispose)

    return sqlops_sync_lifespan


# ----------------------------------------------------------------------------- errors


def install_exception_handlers(app: FastAPI) -> None:
    """Answer sqlops errors with their HTTP status and a body that names the field.

    ``NotFoundError`` 404; ``InvalidFilterError`` / ``InvalidCursorError`` 400;
    ``InvalidValueError`` 422; ``UniqueViolation`` and every other constraint 409;
    ``TransactionConflictError`` 409; ``StaleVersionError`` 412 (with the current
    ``ETag`` when known); ``DatabaseUnavailableError`` 503. Bodies are built
    from the error's structured fields, never from driver text: no SQL, no bound
    parameters, no row values. Other errors (a ``LazyLoadError`` is a bug) stay 500s.
    """
    for cls, _ in _STATUS:
        app.add_exception_handler(cls, _handle)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SqlopsError)
    return error_response(exc)


def error_response(exc: SqlopsError) -> JSONResponse:
    """The JSON response for ``exc`` (useful in your own handlers and middleware)."""
    status, body, headers = _httperrors.answer(exc, logger)
    return JSONResponse(body, status_code=status, headers=headers)


__all__ = [
    "RESERVED_PARAMS",
    "SEARCH_PARAM",
    "CursorParams",
    "PageParams",
    "crud_router",
    "cursor_params",
    "database",
    "error_body",
    "error_response",
    "etag",
    "if_match",
    "install_exception_handlers",
    "lifespan",
    "ordering",
    "page_params",
    "parse_filters",
    "parse_if_match",
    "parse_ordering",
    "query_filters",
    "session",
    "sync_lifespan",
    "sync_session",
    "sync_transaction",
    "transaction",
]
