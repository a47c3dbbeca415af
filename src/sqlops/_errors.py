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
    ├── DatabaseUnavailableError
    ├── ReadOnlyTransactionError      a write in a read-only transaction or on a read-only server
    ├── LazyLoadError                 (also sqlalchemy InvalidRequestError)
    └── SessionMisuseError            one session used by two tasks, or from another event loop

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
    """A write broke a constraint; names the table, the column(s) and the constraint."""

    kind = "constraint"

    def __init__(
        self,
        message: str | None = None,
        *,
        table: str | None = None,
        columns: Sequence[str] = (),
        constraint: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.constraint = constraint
        self.detail = detail
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        columns = ", ".join(self.columns)
        if self.table and columns:
            where = (
                f"{self.table}.{columns}" if len(self.columns) == 1 else f"{self.table}({columns})"
            )
        else:
            where = self.table or columns or "an unnamed table"
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
            return f"{self.table}: {cols} already exists — that {noun} must be unique{named}"
        return super()._describe()


class ForeignKeyViolation(ConstraintViolation):
    """A reference points at a row that does not exist (or is still referenced)."""

    kind = "foreign key"


class NotNullViolation(ConstraintViolation):
    """A required column was given no value."""

    kind = "not null"

    def _describe(self) -> str:
        if self.columns:
            where = f"{self.table}.{self.columns[0]}" if self.table else self.columns[0]
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


class LazyLoadError(SqlopsError, sa_exc.InvalidRequestError):
    """A relationship or expired attribute was touched without being loaded.

    In async code SQLAlchemy would raise ``MissingGreenlet`` (or ``DetachedInstanceError``
    once the session is closed); this names ``Model.attribute`` and the fix instead.
    """

    code: str | None = None  # no "Background on this error at: …" link: the message helps


class SessionMisuseError(SqlopsError):
    """One ``AsyncSession`` was used by two tasks at once, or from another event loop."""


__all__ = [
    "AmbiguousCommitError",
    "CheckViolation",
    "ConstraintViolation",
    "DatabaseUnavailableError",
    "ForeignKeyViolation",
    "InvalidCursorError",
    "InvalidFilterError",
    "InvalidValueError",
    "LazyLoadError",
    "MultipleFoundError",
    "NotFoundError",
    "NotNullViolation",
    "ReadOnlyTransactionError",
    "SessionMisuseError",
    "SqlopsError",
    "TransactionConflictError",
    "UniqueViolation",
]


class AmbiguousCommitError(DatabaseUnavailableError):
    """The connection died during COMMIT: the transaction may or may not have committed.

    Never retried by sqlops. Check whether the work landed (look the row up by a key
    you chose, e.g. an idempotency key) before doing it again.
    """
