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
import uuid
from typing import Any

from sqlalchemy import DateTime, Dialect, Double, MetaData, Uuid, func
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


class UUIDPK:
    """A UUID primary key ``id``, generated client-side (uuid4)."""

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, sort_order=-100
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


__all__ = [
    "Base",
    "IntPK",
    "NAMING_CONVENTION",
    "SoftDelete",
    "Timestamps",
    "UTCDateTime",
    "UUIDPK",
    "make_base",
    "new_metadata",
    "utcnow",
]
