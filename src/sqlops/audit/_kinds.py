"""Name the SQLAlchemy objects the audit reasons about, and their methods.

The rules only fire on expressions whose kind is *known* — an annotation, a
constructor, a factory, a dependency — so a ``session`` that is really an
``aiohttp.ClientSession`` or a sync ``Session`` is never mistaken for an
``AsyncSession``.
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    """Classify a value the audit can recognise."""

    ASYNC_SESSION = "AsyncSession"
    ASYNC_CONNECTION = "AsyncConnection"
    ASYNC_ENGINE = "AsyncEngine"
    ASYNC_FACTORY = "async_sessionmaker"
    SYNC_SESSION = "Session"
    SYNC_CONNECTION = "Connection"
    SYNC_ENGINE = "Engine"
    SYNC_FACTORY = "sessionmaker"
    DATABASE = "sqlops.Database"
    SYNC_DATABASE = "sqlops.sync.Database"


SESSIONS = frozenset({Kind.ASYNC_SESSION, Kind.SYNC_SESSION})
CONNECTIONS = frozenset({Kind.ASYNC_CONNECTION, Kind.SYNC_CONNECTION})
EXECUTORS = SESSIONS | CONNECTIONS
SYNC_EXECUTORS = frozenset({Kind.SYNC_SESSION, Kind.SYNC_CONNECTION})
ASYNC_TWIN = {Kind.SYNC_SESSION: Kind.ASYNC_SESSION, Kind.SYNC_CONNECTION: Kind.ASYNC_CONNECTION}
DATABASE_PRODUCT = {
    Kind.DATABASE: (Kind.ASYNC_SESSION, Kind.ASYNC_ENGINE),
    Kind.SYNC_DATABASE: (Kind.SYNC_SESSION, Kind.SYNC_ENGINE),
}  # what db.session() / db.transaction() and db.engine are
FACTORY_PRODUCT = {Kind.ASYNC_FACTORY: Kind.ASYNC_SESSION, Kind.SYNC_FACTORY: Kind.SYNC_SESSION}

# Coroutine methods: calling one without ``await`` does nothing at all.
COROUTINE_METHODS: dict[Kind, frozenset[str]] = {
    Kind.ASYNC_SESSION: frozenset(
        [
            "aclose",
            "close",
            "commit",
            "connection",
            "delete",
            "delete_all",
            "execute",
            "exec",
            "flush",
            "get",
            "get_one",
            "invalidate",
            "merge",
            "merge_all",
            "refresh",
            "reset",
            "rollback",
            "run_sync",
            "scalar",
            "scalars",
            "stream",
            "stream_scalars",
        ]
    ),
    Kind.ASYNC_CONNECTION: frozenset(
        [
            "aclose",
            "close",
            "commit",
            "exec_driver_sql",
            "execute",
            "execution_options",
            "get_raw_connection",
            "invalidate",
            "rollback",
            "run_sync",
            "scalar",
            "scalars",
            "start",
            "stream",
            "stream_scalars",
        ]
    ),
    Kind.ASYNC_ENGINE: frozenset({"dispose", "raw_connection"}),
}

# Methods that return an awaitable context manager: fine under ``async with`` or
# ``await``, a no-op as a bare statement.
STARTABLE_METHODS = frozenset({"begin", "begin_nested"})

# Plain methods of the async facades: awaiting their result is a TypeError.
SYNC_METHODS: dict[Kind, frozenset[str]] = {
    Kind.ASYNC_SESSION: frozenset(
        [
            "add",
            "add_all",
            "bind_mapper",
            "bind_table",
            "expire",
            "expire_all",
            "expunge",
            "expunge_all",
            "get_bind",
            "get_nested_transaction",
            "get_transaction",
            "identity_key",
            "in_nested_transaction",
            "in_transaction",
            "is_modified",
            "object_session",
        ]
    ),
    Kind.ASYNC_CONNECTION: frozenset(
        ["get_nested_transaction", "get_transaction", "in_nested_transaction", "in_transaction"]
    ),
}

# Methods that send SQL (or a COMMIT) to the server.
IO_METHODS = frozenset(
    [
        "commit",
        "connection",
        "delete",
        "execute",
        "exec",
        "exec_driver_sql",
        "flush",
        "get",
        "get_one",
        "merge",
        "query",
        "refresh",
        "scalar",
        "scalars",
        "stream",
        "stream_scalars",
    ]
)

# Awaited coroutine methods that only SQLAlchemy's AsyncSession has among common async
# libraries (asyncpg, aiosqlite, psycopg, databases, redis, aiohttp, motor lack them or
# lack the combination): awaiting one of them on an untyped name is evidence.
SESSION_ONLY_METHODS = frozenset(
    {"flush", "refresh", "scalars", "scalar", "merge", "stream_scalars", "get_one"}
)

# Type names → kind. ``True`` means the name is too common to trust unless it
# was imported from SQLAlchemy or SQLModel (``requests.Session`` exists).
TYPE_NAMES: dict[str, tuple[Kind, bool]] = {
    "AsyncSession": (Kind.ASYNC_SESSION, False),
    "AsyncConnection": (Kind.ASYNC_CONNECTION, False),
    "AsyncEngine": (Kind.ASYNC_ENGINE, False),
    "async_sessionmaker": (Kind.ASYNC_FACTORY, False),
    "Session": (Kind.SYNC_SESSION, True),
    "scoped_session": (Kind.SYNC_SESSION, True),
    "async_scoped_session": (Kind.ASYNC_SESSION, False),
    "Connection": (Kind.SYNC_CONNECTION, True),
    "Engine": (Kind.SYNC_ENGINE, True),
    "sessionmaker": (Kind.SYNC_FACTORY, False),
}

# Callables that build one of the kinds above.
CONSTRUCTORS: dict[str, tuple[Kind, bool]] = {
    "AsyncSession": (Kind.ASYNC_SESSION, False),
    "async_scoped_session": (Kind.ASYNC_SESSION, False),
    "async_sessionmaker": (Kind.ASYNC_FACTORY, False),
    "create_async_engine": (Kind.ASYNC_ENGINE, False),
    "Session": (Kind.SYNC_SESSION, True),
    "scoped_session": (Kind.SYNC_SESSION, True),
    "sessionmaker": (Kind.SYNC_FACTORY, False),
    "create_engine": (Kind.SYNC_ENGINE, True),
}

SQLA_MODULES = ("sqlalchemy", "sqlmodel")


def from_sqlalchemy(qualname: str) -> bool:
    """Tell whether a dotted name was imported from SQLAlchemy or SQLModel."""
    return qualname.split(".", 1)[0] in SQLA_MODULES and "." in qualname


def lookup(table: dict[str, tuple[Kind, bool]], qualname: str) -> Kind | None:
    """Return the kind a dotted name denotes in ``table``, honouring import checks."""
    entry = table.get(qualname.rsplit(".", 1)[-1])
    if entry is None:
        return None
    kind, needs_origin = entry
    if needs_origin and not from_sqlalchemy(qualname):
        return None
    return kind
