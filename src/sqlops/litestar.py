"""Litestar glue: ``db`` / ``session`` / ``transaction`` dependencies, errors, query helpers.

::

    import sqlops
    from litestar import Litestar, post
    from litestar.params import JSONBody
    from sqlops.litestar import SqlopsPlugin, Transaction

    db = sqlops.Database()

    @post("/users")
    async def create_user(data: JSONBody[UserIn], transaction: Transaction) -> UserOut:
        user = await sqlops.Repository(User, transaction).create(**data.model_dump())
        return UserOut.model_validate(user, from_attributes=True)

    app = Litestar([create_user], plugins=[SqlopsPlugin(db)])

The ``transaction`` dependency commits when the handler returns and *before* the
response is sent, so a failed commit is an error response (409, 503), never a 201 for a
lost write. Errors get the same statuses and bodies as ``sqlops.fastapi``. This module
imports Litestar; ``import sqlops`` does not.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias

with warnings.catch_warnings():
    # Litestar imports advanced-alchemy, whose mixins use an API that SQLAlchemy 2.1
    # deprecates: not the app's concern, and fatal under ``-W error``.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="advanced_alchemy")
    from litestar import Litestar, Request, Response
    from litestar import params as _litestar_params
    from litestar.config.app import AppConfig
    from litestar.di import NamedDependency, Provide
    from litestar.plugins import InitPluginProtocol

from sqlalchemy.ext.asyncio import AsyncSession

from . import _httperrors
from ._database import Database
from ._errors import SqlopsError
from ._params import RESERVED_PARAMS, CursorParams, PageParams, parse_filters, parse_ordering

logger = logging.getLogger("sqlops.litestar")

STATE_KEY = "sqlops_db"

Db: TypeAlias = NamedDependency[Database]
"""``db: Db`` in a handler: the :class:`Database`."""
Session: TypeAlias = NamedDependency[AsyncSession]
"""``session: Session``: a plain session; the handler commits."""
Transaction: TypeAlias = NamedDependency[AsyncSession]
"""``transaction: Transaction``: a session in a transaction, committed before the response."""


def _query(name: str, **options: Any) -> Any:
    """The query parameter ``name``: ``QueryParameter`` where Litestar has it (>= 2.19)."""
    newer = getattr(_litestar_params, "QueryParameter", None)
    if newer is not None:
        return newer(name=name, **options)
    return _litestar_params.Parameter(query=name, **options)


class SqlopsPlugin(InitPluginProtocol):
    """Give every handler ``db``, ``session`` and ``transaction``; answer sqlops errors.

    * ``db: Db`` — the :class:`Database` (streams, ``db.run()``, standalone repos);
    * ``session: Session`` — a plain session: the handler commits, the rest rolls back;
    * ``transaction: Transaction`` — an ``AsyncSession`` committed when the handler
      returns, before the response is sent; rolled back when it raises.

    At startup the database is pinged (a failure stops the startup) and stored on
    ``app.state``; at shutdown it is disposed. Ask a handler for ``session`` *or*
    ``transaction``, not both: they are two sessions.
    """

    def __init__(self, db: Database, *, ping: bool = True, dispose: bool = True) -> None:
        self.db = db
        self.ping = ping
        self.dispose = dispose

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the dependencies, the exception handlers and the lifespan."""
        app_config.dependencies.update(
            {
                "db": Provide(self.provide_db, sync_to_thread=False),
                "session": Provide(self.provide_session),
                "transaction": Provide(self.provide_transaction),
            }
        )
        for cls, _ in _httperrors.STATUS:
            app_config.exception_handlers[cls] = exception_handler
        app_config.lifespan.append(self.lifespan)
        app_config.signature_namespace.update({"AsyncSession": AsyncSession, "Database": Database})
        return app_config

    def lifespan(self, app: Litestar) -> AbstractAsyncContextManager[None]:
        """Ping at startup, store the database on ``app.state``, dispose at shutdown."""

        @asynccontextmanager
        async def sqlops_lifespan() -> AsyncIterator[None]:
            try:
                if self.ping:
                    await self.db.ping()
                app.state[STATE_KEY] = self.db
                yield
            finally:
                if self.dispose:
                    await self.db.dispose()

        return sqlops_lifespan()

    def provide_db(self) -> Database:
        return self.db

    async def provide_session(self) -> AsyncIterator[AsyncSession]:
        async with self.db.session() as session:
            yield session

    async def provide_transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.db.transaction() as session:
            yield session


def exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The response for a sqlops error: the status and body ``sqlops.fastapi`` gives."""
    assert isinstance(exc, SqlopsError)
    return error_response(exc)


def error_response(exc: SqlopsError) -> Response[Any]:
    """The JSON response for ``exc`` (useful in your own handlers and middleware)."""
    status, body, headers = _httperrors.answer(exc, logger)
    return Response(content=body, status_code=status, headers=headers)


error_body = _httperrors.error_body


# ----------------------------------------------------------------------------- query strings


def page_params(per_page: int = 20, max_per_page: int = 100) -> Provide:
    """A dependency on ``?page=`` (>= 1) and ``?per_page=`` (1..``max_per_page``)."""
    default = per_page

    def sqlops_page_params(
        page: int = _query("page", default=1, ge=1),
        per_page: int = _query("per_page", default=default, ge=1, le=max_per_page),
    ) -> PageParams:
        return PageParams(page=page, per_page=per_page)

    return Provide(sqlops_page_params, sync_to_thread=False)


def cursor_params(limit: int = 50, max_limit: int = 200) -> Provide:
    """A dependency on ``?after=`` (an opaque cursor) and ``?limit=`` (1..``max_limit``)."""
    default = limit

    def sqlops_cursor_params(
        after: str | None = _query("after", default=None, max_length=4096),
        limit: int = _query("limit", default=default, ge=1, le=max_limit),
    ) -> CursorParams:
        return CursorParams(after=after, limit=limit)

    return Provide(sqlops_cursor_params, sync_to_thread=False)


def ordering(allow: Iterable[str], default: str | Sequence[str] | None = None) -> Provide:
    """A dependency on ``?order_by=name,-created_at``, each name from ``allow`` (else 400)."""
    allowed = frozenset(allow)

    def sqlops_ordering(
        order_by: str | None = _query("order_by", default=None, max_length=200),
    ) -> Any:
        if order_by is None:
            return default
        return parse_ordering(order_by, allowed)

    return Provide(sqlops_ordering, sync_to_thread=False)


def query_filters(allow: Iterable[str], *, ignore: Iterable[str] = ()) -> Provide:
    """A dependency on query-string filters, each key from ``allow``: a dict for ``**filters``.

    Like ``sqlops.fastapi.query_filters``: any other key is a 400 except the paging and
    ordering ones and ``ignore``; values stay strings for the repository to convert.
    The allowed keys are documented in the OpenAPI schema.
    """
    allowed = sorted(frozenset(allow))
    skipped = RESERVED_PARAMS | frozenset(ignore)

    def sqlops_query_filters(request: Request[Any, Any, Any], **_documented: Any) -> Any:
        return parse_filters(request.query_params.multi_items(), allowed, skipped)

    _document_filters(sqlops_query_filters, allowed)
    return Provide(sqlops_query_filters, sync_to_thread=False)


def _document_filters(fn: Any, keys: Sequence[str]) -> None:
    """Declare ``keys`` as optional string query parameters of ``fn``, for OpenAPI."""
    names = {f"sqlops_filter_{i}": key for i, key in enumerate(keys)}
    request = inspect.Parameter(
        "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
    )
    documented = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=_query(key, default=None, required=False),
            annotation=str | None,
        )
        for name, key in names.items()
    ]
    fn.__signature__ = inspect.Signature([request, *documented], return_annotation=Any)
    fn.__annotations__ = {
        "request": Request,
        **dict.fromkeys(names, str | None),
        "return": Any,
    }


__all__ = [
    "STATE_KEY",
    "CursorParams",
    "Db",
    "PageParams",
    "Session",
    "SqlopsPlugin",
    "Transaction",
    "cursor_params",
    "error_body",
    "error_response",
    "exception_handler",
    "ordering",
    "page_params",
    "query_filters",
]
