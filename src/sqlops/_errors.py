"""The sqlops error tree.

::

    SqlopsError
    ├── NotFoundError                 (.model, .key)
    ├── MultipleFoundError
    ├── InvalidFilterError            (also ValueError)
    ├── InvalidCursorError            (also ValueError)
    ├── InvalidValueError             (also ValueError)
    ├── ConstraintViolation           (.table, .columns, .constraint, .detail)
    │   ├── UniqueViolation
    │   ├── ForeignKeyViolation
    │   ├── NotNullViolation
    │   └── CheckViolation
    ├── TransactionConflictError      (.attempts)
    ├── TransactionAbortedError       (.error) a session used after an error ended its transaction
    ├── DatabaseUnavailableError      cannot connect, connection lost
    │   ├── PoolTimeoutError
    │   └── AmbiguousCommitError      the connection died during COMMIT: outcome unknown
    ├── ReadOnlyTransactionError      a write in a read-only transaction or on a read-only server
    ├── PreparedStatementError        a named prepared statement missing or doubled (PgBouncer)
    ├── LazyLoadError                 (also sqlalchemy InvalidRequestError)
    ├── SessionMisuseError            one session used by two tasks, or from another event loop
    ├── StaleVersionError             (.model, .key, .expected, .actual) optimistic-lock mismatch
    ├── SchemaError                   (.schema, .field, .errors) a row that does not fit schema=
    ├── SyncDriverError               (also ValueError) a blocking driver in the URL
    ├── InvalidURLError               (also ValueError, sqlalchemy ArgumentError) not a URL
    └── MissingDependencyError        (also ImportError, .extra) pip install 'sqlops[extra]'

Database errors are turned into these by :func:`sqlops._translate.translate`; every
translated error keeps the driver's exception as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exc as sa_exc


class SqlopsError(Exception):
    """Base class of every error sqlops raises on purpose."""


class NotFoundError(SqlopsError):
    """No row matched a lookup that requires one."""

    def __init__(self, model: type[Any] | None, key: Any, message: str | None = None) -> None:
        self.model = model
        self.key = key
        name = model.__name__ if model is not None else "row"
        super().__init__(message or f"{name} {key!r} not found")


class MultipleFoundError(SqlopsError):
    """More than one row matched a lookup that allows only one."""


class InvalidFilterError(SqlopsError, ValueError):
    """A filter, ordering or load name that the model does not have.

    These names usually come from HTTP query strings, so the message lists the valid
    choices and never echoes anything into SQL.
    """


class InvalidCursorError(SqlopsError, ValueError):
    """A pagination cursor that was forged, damaged, or made for another ordering."""


class InvalidValueError(SqlopsError, ValueError):
    """A value the database (or the model) rejects: too long, out of range, bad encoding."""

    def __init__(self, message: str, *, column: str | None = None, table: str | None = None):
        self.column = column
        self.table = table
        super().__init__(message)


class ConstraintViolation(SqlopsError):
    """A write broke a constraint; names the table, the column(s) and the constraint.

    ``.table`` is the bare table name (``Table.name``); ``.schema`` is the table's schema
    when the model names one (``MetaData(schema="app")``), else None.
    """

    kind = "constraint"

    def __init__(
        self,
        message: str | None = None,
        *,
        table: str | None = None,
        columns: Sequence[str] = (),
        constraint: str | None = None,
        detail: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.table = table
        self.schema = schema
        self.columns = tuple(columns)
        self.constraint = constraint
        self.detail = detail
        super().__init__(message or self._describe())

    @property
    def _where(self) -> str | None:
        if self.table and self.schema:
            return f"{self.schema}.{self.table}"
        return self.table

    def _describe(self) -> str:
        columns = ", ".join(self.columns)
        table = self._where
        if table and columns:
            where = f"{table}.{columns}" if len(self.columns) == 1 else f"{table}({columns})"
        else:
            where = table or columns or "an unnamed table"
        named = f" (constraint {self.constraint})" if self.constraint else ""
        return f"{self.kind} violation on {where}{named}"


class UniqueViolation(ConstraintViolation):
    """A row with the same unique key already exists."""

    kind = "unique"

    def _describe(self) -> str:
        if self.table and self.columns:
            cols = ", ".join(self.columns)
            noun = "value" if len(self.columns) == 1 else "combination"
            named = f" (constraint {self.constraint})" if self.constraint else ""
            return f"{self._where}: {cols} already exists — that {noun} must be unique{named}"
        return super()._describe()


class ForeignKeyViolation(ConstraintViolation):
    """A reference points at a row that does not exist (or is still referenced)."""

    kind = "foreign key"


class NotNullViolation(ConstraintViolation):
    """A required column was given no value."""

    kind = "not null"

    def _describe(self) -> str:
        if self.columns:
            where = f"{self._where}.{self.columns[0]}" if self.table else self.columns[0]
            return f"{where} is required (NOT NULL) but no value was given"
        return super()._describe()


class CheckViolation(ConstraintViolation):
    """A CHECK constraint rejected the row."""

    kind = "check"


class TransactionConflictError(SqlopsError):
    """A serialization failure, deadlock or lock timeout (after ``run()``'s retries)."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        self.attempts = attempts
        super().__init__(message)


class DatabaseUnavailableError(SqlopsError):
    """The database cannot be reached, the connection was lost, or the pool is exhausted."""


class ReadOnlyTransactionError(SqlopsError):
    """A write inside ``db.transaction(readonly=True)``, or on a read-only server (a replica).

    Nothing was written: the transaction is rolled back. Open a write transaction
    (``db.transaction()``) for work that writes.
    """


class PreparedStatementError(SqlopsError):
    """A named prepared statement the connection expected is missing, or already exists.

    Behind PgBouncer in transaction pooling mode (before 1.21, or with
    ``max_prepared_statements = 0``) the next transaction of a client may run on another
    server connection, where the driver's cached statement was never prepared. The fix
    is ``Database(url, pooler="pgbouncer")``; ``sqlops doctor`` detects the setup.
    """


class LazyLoadError(SqlopsError, sa_exc.InvalidRequestError):
    """A relationship or expired attribute was touched without being loaded.

    In async code SQLAlchemy would raise ``MissingGreenlet`` (or ``DetachedInstanceError``
    once the session is closed); this names ``Model.attribute`` and the fix instead.
    """

    code: str | None = None  # no "Background on this error at: …" link: the message helps


class SessionMisuseError(SqlopsError):
    """One ``AsyncSession`` was used by two tasks at once, or from another event loop."""


class InvalidURLError(SqlopsError, sa_exc.ArgumentError, ValueError):
    """The text is not a database URL (``backend://user@host:port/database``)."""

    code: str | None = None  # no "Background on this error at: …" link


class MissingDependencyError(SqlopsError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, message: str, *, extra: str | None = None, name: str | None = None) -> None:
        super().__init__(message, name=name)
        self.extra = extra


class StaleVersionError(SqlopsError):
    """A write to a ``Versioned`` row found another version than the one it was based on.

    Someone else changed (or deleted) the row since it was read: re-read it and decide
    again. ``expected`` is the version the write was based on, ``actual`` the one in the
    database when sqlops could read it back (else None; None as well if the row is gone).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        model: type[Any] | None = None,
        key: Any = None,
        expected: Any = None,
        actual: Any = None,
    ) -> None:
        self.model = model
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        name = self.model.__name__ if self.model is not None else "row"
        what = f"{name} {self.key!r}" if self.key is not None else name
        now = f", it is now {self.actual!r}" if self.actual is not None else ""
        based = f" (expected version {self.expected!r}{now})" if self.expected is not None else ""
        return f"{what} was changed by someone else{based}; read it again and retry"


class SchemaError(SqlopsError):
    """A row read with ``schema=`` does not fit that schema (names the schema and field).

    A bug in the code, not in the request: the schema asks for a field the model lacks,
    or the stored value fails the schema's validation. ``errors`` is the validator's list.
    """

    def __init__(
        self,
        message: str,
        *,
        schema: type[Any] | None = None,
        field: str | None = None,
        errors: Sequence[Any] = (),
    ) -> None:
        self.schema = schema
        self.field = field
        self.errors = list(errors)
        super().__init__(message)


class TransactionAbortedError(SqlopsError):
    """A session was used again after an error ended its transaction.

    A violation (or any database error) inside a transaction leaves it unusable:
    PostgreSQL refuses every further statement and would turn COMMIT into a rollback, and
    SQLAlchemy rolls a failed flush back. ``.error`` is the earlier sqlops error. To go on
    after a write that may fail, run it in ``async with db.savepoint(session):``.
    """

    def __init__(self, message: str, *, error: BaseException | None = None) -> None:
        self.error = error
        super().__init__(message)


__all__ = [
    "AmbiguousCommitError",
    "CheckViolation",
    "ConstraintViolation",
    "DatabaseUnavailableError",
    "ForeignKeyViolation",
    "InvalidCursorError",
    "InvalidFilterError",
    "InvalidURLError",
    "InvalidValueError",
    "LazyLoadError",
    "MissingDependencyError",
    "MultipleFoundError",
    "NotFoundError",
    "NotNullViolation",
    "ReadOnlyTransactionError",
    "SchemaError",
    "SessionMisuseError",
    "SqlopsError",
    "StaleVersionError",
    "TransactionAbortedError",
    "TransactionConflictError",
    "UniqueViolation",
]


class AmbiguousCommitError(DatabaseUnavailableError):
    """The connection died during COMMIT: the transaction may or may not have committed.

    Never retried by sqlops. Check whether the work landed (look the row up by a key
    you chose, e.g. an idempotency key) before doing it again.
    """


def got(kind: str) -> str:
    """``(got an int)``, ``(got a bool)``: the kind of a refused value, never the value."""
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"(got {article} {kind})"
