"""Offset pages, keyset (cursor) pages, and the cursor format.

A cursor is ``base64url(json([fingerprint, values]) + hmac)``: opaque to clients,
tamper-evident, and tied to the ordering it was made for, so a forged, damaged or stale
cursor raises :class:`InvalidCursorError` instead of silently skipping rows.

Keyset pagination puts NULLs last on every backend (PostgreSQL, MariaDB and SQLite
disagree by default) and breaks ties with the primary key, so every row is returned
exactly once even when the sort column has duplicates.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import enum
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, false, or_, tuple_

from ._errors import InvalidCursorError
from ._filters import SortKey, coercer
from ._modelinfo import ModelInfo

T = TypeVar("T")

_MAC_BYTES = 16
_SECRET_ENV = "SQLOPS_CURSOR_SECRET"
_process_key: bytes | None = None  # the fallback key, made on first use
SECRET_INFO_KEY = "sqlops.cursor_secret"  # a sqlops session's info: its Database's secret

logger = logging.getLogger("sqlops")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of an offset-paginated query, with the total row count."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages (0 when there are no rows)."""
        return math.ceil(self.total / self.per_page) if self.total else 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    """One page of a keyset-paginated query; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


# ----------------------------------------------------------------------------- cursor codec


def cursor_key(secret: str | bytes | None) -> bytes:
    """The HMAC key: an explicit secret, else ``$SQLOPS_CURSOR_SECRET``, else a random one.

    Never derived from the database URL: a key made from the password would let anyone
    holding one cursor test password guesses offline, and one made from a password-less
    URL can be computed by anyone. The random fallback is generated once per process,
    so cursors then do not survive a restart or move between workers: set a secret in
    any deployment with more than one process (a warning says so, once).
    """
    secret = secret or os.environ.get(_SECRET_ENV)
    if secret:
        return secret.encode() if isinstance(secret, str) else secret
    global _process_key
    if _process_key is None:
        _process_key = secrets.token_bytes(32)
        logger.warning(
            "no cursor_secret: pagination cursors are signed with a random key of this "
            "process and are invalid in other workers and after a restart; set "
            "Database(cursor_secret=...) or $%s",
            _SECRET_ENV,
        )
    return _process_key


def fingerprint(info: ModelInfo, keys: Sequence[SortKey]) -> str:
    """A short tag of the ordering a cursor belongs to."""
    spec = ",".join(("-" if k.descending else "") + k.key for k in keys)
    return hashlib.blake2s(f"{info.table.name}:{spec}".encode(), digest_size=6).hexdigest()


def encode_cursor(key: bytes, tag: str, values: Sequence[Any]) -> str:
    payload = json.dumps([tag, [_dump(v) for v in values]], separators=(",", ":")).encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


def decode_cursor(
    key: bytes, tag: str, cursor: str, info: ModelInfo, keys: Sequence[SortKey]
) -> list[Any]:
    """Check and unpack ``cursor``; raise :class:`InvalidCursorError` when it is not ours."""
    if not isinstance(cursor, str) or len(cursor) > 4096:
        raise InvalidCursorError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("invalid cursor: not a cursor this API issued") from exc
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, expected):
        raise InvalidCursorError("invalid cursor: it was altered or issued by another server")
    try:
        found_tag, values = json.loads(payload)
    except (ValueError, TypeError) as exc:  # pragma: no cover - MAC already matched
        raise InvalidCursorError("invalid cursor") from exc
    if found_tag != tag or len(values) != len(keys):
        raise InvalidCursorError(
            "stale cursor: it was made for a different ordering; start again without a cursor"
        )
    try:
        return [
            None if v is None else coercer(info, k.key, k.key)(_load(v))
            for k, v in zip(keys, values, strict=True)
        ]
    except ValueError as exc:  # InvalidFilterError is a ValueError
        raise InvalidCursorError("invalid cursor: a value does not fit its column") from exc


def _dump(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return {"t": value.isoformat()}
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return {"s": str(value)}
    if isinstance(value, enum.Enum):
        return {"s": value.name if not isinstance(value.value, str | int) else value.value}
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode()}
    return {"s": str(value)}


def _load(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, raw),) = value.items()
        if kind == "f":
            return float(raw)
        if kind == "b":
            return base64.b64decode(raw)
        return raw
    return value


# ----------------------------------------------------------------------------- keyset SQL


def keyset_order(keys: Sequence[SortKey]) -> list[Any]:
    """ORDER BY terms for keyset pagination, NULLs last on every backend."""
    clauses: list[Any] = []
    for k in keys:
        if k.nullable:
            clauses.append(k.attr.is_(None))
        clauses.append(k.clause())
    return clauses


def keyset_after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``keys`` (NULLs last).

    One direction and no NULLs: a row-value comparison ``(a, id) > (:a, :id)``, which
    every backend can answer from an index range. Otherwise the expanded OR form.
    """
    uniform = len({k.descending for k in keys}) == 1
    no_nulls = all(v is not None for v in values)  # "is": values may be bind parameters
    if len(keys) > 1 and uniform and not any(k.nullable for k in keys) and no_nulls:
        left, right = tuple_(*(k.attr for k in keys)), tuple_(*values)
        return left < right if keys[0].descending else left > right
    branches: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for k, v in zip(keys, values, strict=True):
        branches.append(and_(*equal, _beyond(k, v)) if equal else _beyond(k, v))
        equal.append(k.attr.is_(None) if v is None else k.attr == v)
    return or_(*branches)


def _beyond(k: SortKey, value: Any) -> ColumnElement[bool]:
    """Rows whose ``k`` comes strictly after ``value``."""
    if value is None:  # NULLs are last: nothing non-null comes after a NULL
        return false()
    after = k.attr < value if k.descending else k.attr > value
    return or_(after, k.attr.is_(None)) if k.nullable else after
