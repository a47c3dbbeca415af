"""Declarative base and mixins: primary keys, timestamps, soft delete.

::

    from sqlops.models import Base, IntPK, Timestamps, SoftDelete

    class User(IntPK, Timestamps, SoftDelete, Base):
        __tablename__ = "users"
        email: Mapped[str] = mapped_column(String(255), unique=True)

The mixins work with any ``DeclarativeBase``, not only this one.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from typing import Any

from sqlalchemy import DateTime, Dialect, Double, MetaData, Uuid, func
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime on every backend, stored in UTC.

    PostgreSQL keeps ``timestamptz``; SQLite and MariaDB have no time zones, so the
    value is converted to UTC on the way in and marked UTC on the way out. A naive
    datetime is taken to be UTC already. MariaDB gets microsecond precision.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        return dt.datetime

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got a {type(value).__name__}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite with an odd adapter
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)  # type: ignore[no-any-return]
        return value.astimezone(dt.timezone.utc)  # type: ignore[no-any-return]


# ``Mapped[float]`` is a Python float, a double: SQLAlchemy's default ``Float`` is a 4-byte
# FLOAT on MariaDB / MySQL, which keeps about 6 significant digits (1361197 reads back as
# 1361200). ``Double`` is DOUBLE there and the same double precision elsewhere.
TYPE_ANNOTATION_MAP: dict[Any, Any] = {dt.datetime: UTCDateTime(), float: Double()}


def new_metadata() -> MetaData:
    """A fresh ``MetaData`` with sqlops' constraint naming convention.

    For a typed base of your own (its own registry, so two apps may both have a
    ``Player`` class)::

        class Base(AsyncAttrs, DeclarativeBase):
            metadata = new_metadata()
            type_annotation_map = TYPE_ANNOTATION_MAP
    """
    return MetaData(naming_convention=NAMING_CONVENTION)


def make_base(name: str = "Base") -> type[DeclarativeBase]:
    """A new declarative base like :class:`Base`, with its own registry and metadata.

    ``Base = make_base()`` is the one-line form of the class shown in
    :func:`new_metadata` (type checkers prefer the class form as a base).
    """
    namespace = {"metadata": new_metadata(), "type_annotation_map": dict(TYPE_ANNOTATION_MAP)}
    return type(name, (AsyncAttrs, DeclarativeBase), namespace)


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migration names).

    Includes ``AsyncAttrs`` so ``await obj.awaitable_attrs.rel`` loads a relationship
    explicitly. Timezone-aware ``datetime`` columns map to :class:`UTCDateTime`.
    """

    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class IntPK:
    """An auto-incrementing integer primary key ``id``."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)


class _UUID7:
    """RFC 9562 UUIDv7: a 48-bit millisecond timestamp, then a 42-bit counter, then random.

    The counter starts at a random value (top bit clear) each millisecond and counts up
    within it, so keys made in one process sort in the order they were made; if it runs
    out, or the clock goes back, the timestamp is moved on by a millisecond instead.
    (The layout of CPython 3.14's ``uuid.uuid7``, which is used where it exists.)
    """

    _COUNTER_MAX = (1 << 42) - 1
    _FLAGS = (0x7 << 76) | (0b10 << 62)  # version 7, variant 10

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms > self._last_ms:
                self._counter = int.from_bytes(os.urandom(6), "big") >> 7  # 41 random bits
            else:
                ms, self._counter = self._last_ms, self._counter + 1
                if self._counter > self._COUNTER_MAX:
                    ms += 1
                    self._counter = int.from_bytes(os.urandom(6), "big") >> 7
            self._last_ms = ms
            counter = self._counter
        tail = int.from_bytes(os.urandom(4), "big")
        value = (ms & 0xFFFF_FFFF_FFFF) << 80
        value |= (counter >> 30) << 64 | (counter & 0x3FFF_FFFF) << 32 | tail
        return uuid.UUID(int=value | self._FLAGS)


uuid7: Any = getattr(uuid, "uuid7", None) or _UUID7()
"""Return a new time-ordered UUIDv7 (``uuid.uuid7`` where Python has it, else ours)."""


def _new_uuid7() -> uuid.UUID:
    """A new UUIDv7 (looked up per call, so tests and users may swap ``models.uuid7``)."""
    value: uuid.UUID = uuid7()
    return value


class UUIDPK:
    """A UUID primary key ``id``, generated client-side, time-ordered (UUIDv7).

    v7 keys grow with time, so new rows land at the right edge of the primary-key index
    like an integer key's: fewer page splits and a smaller index than uuid4's random
    keys (see docs/benchmarks.md), and they still reveal nothing but the creation time.
    """

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=_new_uuid7, sort_order=-100
    )


class Timestamps:
    """``created_at`` and ``updated_at``, timezone-aware, set by sqlops and the server."""

    @declared_attr
    def created_at(cls) -> Mapped[dt.datetime]:
        return mapped_column(
            UTCDateTime(),
            default=utcnow,
            server_default=func.now(),
            nullable=False,
            sort_order=90,
        )

    @declared_attr
    def updated_at(cls) -> Mapped[dt.datetime]:
        return mapped_column(
            UTCDateTime(),
            default=utcnow,
            onupdate=utcnow,
            server_default=func.now(),
            nullable=False,
            sort_order=91,
        )


class SoftDelete:
    """``deleted_at``: set by ``Repository.soft_delete``; reads skip such rows by default."""

    @declared_attr
    def deleted_at(cls) -> Mapped[dt.datetime | None]:
        return mapped_column(UTCDateTime(), default=None, nullable=True, index=True, sort_order=92)


class Versioned:
    """An integer ``version`` column that SQLAlchemy checks and bumps on every UPDATE.

    It is the mapper's ``version_id_col``: an UPDATE or DELETE of a stale object matches
    no row and raises :class:`sqlops.StaleVersionError`, and
    ``Repository.update(pk, expected_version=n)`` writes only if the row is still at
    ``n``. Your own ``__mapper_args__`` (and other mixins') are kept and merged.
    """

    version: Mapped[int] = mapped_column(nullable=False, sort_order=93)

    def __init_subclass__(cls, **kw: Any) -> None:
        inherited = _mapper_args_source(cls)
        merged = declared_attr.directive(lambda c: _versioned_args(c, inherited))
        merged.fget._sqlops_versioned = inherited  # type: ignore[attr-defined]
        cls.__mapper_args__ = merged  # type: ignore[attr-defined]
        super().__init_subclass__(**kw)


def _mapper_args_source(cls: type[Any]) -> Any:
    """The ``__mapper_args__`` ``cls`` would have without :class:`Versioned` (or None)."""
    for klass in cls.__mro__:
        found = klass.__dict__.get("__mapper_args__")
        if found is None:
            continue
        fget = getattr(found, "fget", None)
        if fget is not None and hasattr(fget, "_sqlops_versioned"):
            return fget._sqlops_versioned  # ours, one level up: what it wrapped
        return found
    return None


def _versioned_args(cls: type[Any], inherited: Any) -> dict[str, Any]:
    fget = getattr(inherited, "fget", None)
    args = dict(fget(cls) if fget is not None else inherited or {})
    mapped_parent = any(sa_inspect(b, raiseerr=False) is not None for b in cls.__mro__[1:])
    if not mapped_parent:  # an inheriting mapper takes its parent's version column
        args.setdefault("version_id_col", cls.version)
    return args


__all__ = [
    "Base",
    "IntPK",
    "NAMING_CONVENTION",
    "SoftDelete",
    "Timestamps",
    "UTCDateTime",
    "UUIDPK",
    "Versioned",
    "make_base",
    "new_metadata",
    "utcnow",
    "uuid7",
]
