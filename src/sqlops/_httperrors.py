"""sqlops errors as HTTP answers: a status, a body safe to show, headers; no framework.

``sqlops.fastapi`` and ``sqlops.litestar`` both answer from this one table, so an app
gives the same status and body for the same error whichever framework serves it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ._errors import (
    ConstraintViolation,
    DatabaseUnavailableError,
    ForeignKeyViolation,
    InvalidCursorError,
    InvalidFilterError,
    InvalidValueError,
    NotFoundError,
    NotNullViolation,
    SqlopsError,
    StaleVersionError,
    TransactionConflictError,
    UniqueViolation,
)

logger = logging.getLogger("sqlops.http")


STATUS: tuple[tuple[type[SqlopsError], int], ...] = (
    (NotFoundError, 404),
    (InvalidFilterError, 400),
    (InvalidCursorError, 400),
    (InvalidValueError, 422),
    (ConstraintViolation, 409),
    (TransactionConflictError, 409),
    (StaleVersionError, 412),
    (DatabaseUnavailableError, 503),
)


def status_for(exc: SqlopsError) -> int:
    """The HTTP status for ``exc``: the first matching row of :data:`STATUS`, else 500."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


def headers_for(exc: SqlopsError, status: int) -> dict[str, str] | None:
    """Extra response headers: ``Retry-After`` on a 503, the current ``ETag`` on a 412."""
    if isinstance(exc, StaleVersionError) and exc.actual is not None:
        return {"ETag": quote_version(exc.actual)}  # the version to re-read against
    return {"Retry-After": "1"} if status == 503 else None


def quote_version(version: Any) -> str:
    """A version as a strong entity tag: ``3`` -> ``"3"`` (quotes included)."""
    return f'"{version}"'


def answer(
    exc: SqlopsError, log_to: logging.Logger = logger
) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """``(status, body, headers)`` for ``exc``, logged on ``log_to`` (a warning from 500 up)."""
    status = status_for(exc)
    log = log_to.warning if status >= 500 else log_to.debug
    log("%s -> %d: %s", type(exc).__name__, status, exc)
    return status, error_body(exc), headers_for(exc, status)


def error_body(exc: SqlopsError) -> dict[str, Any]:
    """``{"detail": ..., "field": ...}`` for ``exc``, safe to show to a client."""
    if isinstance(exc, NotFoundError):
        name = exc.model.__name__ if exc.model is not None else "row"
        return {"detail": f"{name} not found"}
    if isinstance(exc, InvalidFilterError | InvalidCursorError):
        return {"detail": str(exc)}  # built by sqlops from names only, input truncated
    if isinstance(exc, InvalidValueError):
        return _invalid_value_body(exc)
    if isinstance(exc, ConstraintViolation):
        return _constraint_body(exc)
    if isinstance(exc, StaleVersionError):
        return {"detail": "the resource was changed by someone else; fetch it again"}
    if isinstance(exc, TransactionConflictError):
        return {"detail": "the request conflicted with a concurrent change; try again"}
    if isinstance(exc, DatabaseUnavailableError):
        return {"detail": "the database is unavailable; try again later"}
    return {"detail": "internal error"}


def _constraint_body(exc: ConstraintViolation) -> dict[str, Any]:
    columns = list(exc.columns)
    named = ", ".join(columns)
    if isinstance(exc, UniqueViolation):
        if len(columns) == 1:
            detail = f"{named} already exists"
        elif columns:
            detail = f"this combination of {named} already exists"
        else:
            detail = "a row with this key already exists"
    elif isinstance(exc, ForeignKeyViolation):
        if "still referenced" in (exc.detail or ""):
            # The columns are the referencing table's: not a field of this request.
            return {"detail": "the row is still referenced by other rows"}
        detail = f"{named or 'a reference'} points to a row that does not exist"
    elif isinstance(exc, NotNullViolation):
        detail = f"{named or 'a field'} is required"
    else:
        detail = f"the change breaks the constraint {exc.constraint or 'on ' + (exc.table or '?')}"
    body: dict[str, Any] = {"detail": detail}
    if len(columns) == 1:
        body["field"] = columns[0]
    elif columns:
        body["fields"] = columns
    return body


_LENGTH_LIMIT = re.compile(r"\(the column allows (\d+) characters\)$")


def _invalid_value_body(exc: InvalidValueError) -> dict[str, Any]:
    if exc.column:
        # The reason the driver gave may quote the value; keep only what sqlops computed.
        limit = _LENGTH_LIMIT.search(str(exc))
        hint = f" (at most {limit[1]} characters)" if limit else ""
        if "NUL byte" in str(exc):  # PostgreSQL refuses \x00 in text, whatever the length
            hint = " (a NUL byte, \\x00, cannot be stored)"
        return {"detail": f"invalid value for {exc.column}{hint}", "field": exc.column}
    text = str(exc)
    if exc.table is not None or text.startswith(("a value could not be sent", "invalid value")):
        return {"detail": "invalid value"}  # translated from the driver: may quote the value
    return {"detail": text}  # raised by sqlops itself before any SQL: names only
