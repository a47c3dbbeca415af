"""The custody schema: staff, kits, custody events, maintenance records."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlops.models import NAMING_CONVENTION, IntPK, Timestamps, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Role(enum.Enum):
    technician = "technician"
    manager = "manager"


class KitStatus(enum.Enum):
    available = "available"
    checked_out = "checked_out"
    maintenance = "maintenance"
    lost = "lost"


class EventKind(enum.Enum):
    check_out = "check_out"
    check_in = "check_in"
    transfer = "transfer"
    lost = "lost"
    found = "found"
    maintenance = "maintenance"
    repaired = "repaired"


def _enum(cls: type[enum.Enum]) -> Enum:
    """A VARCHAR plus CHECK on every backend (no native ENUM type to migrate)."""
    return Enum(cls, native_enum=False, length=20, validate_strings=True)


class Staff(IntPK, Timestamps, Base):
    __tablename__ = "staff"
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.technician)


class Kit(IntPK, Timestamps, Base):
    """A piece of kit. ``status`` and ``holder_id`` change only through conditional UPDATEs."""

    __tablename__ = "kits"
    tag: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[KitStatus] = mapped_column(
        _enum(KitStatus), default=KitStatus.available, index=True
    )
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    holder: Mapped[Staff | None] = relationship()
    # Deleting a kit deletes its history: the ORM cascade (Repository.delete) and, for
    # deletes that bypass the ORM, ON DELETE CASCADE in the schema.
    events: Mapped[list[CustodyEvent]] = relationship(
        back_populates="kit", cascade="all, delete-orphan", order_by="CustodyEvent.id"
    )
    maintenance: Mapped[list[MaintenanceRecord]] = relationship(
        back_populates="kit", cascade="all, delete-orphan", order_by="MaintenanceRecord.id"
    )


class CustodyEvent(IntPK, Timestamps, Base):
    """One hand-over; a kit's history is read by (kit_id, created_at): one index."""

    __tablename__ = "custody_events"
    __table_args__ = (Index("ix_custody_events_kit_id_created_at", "kit_id", "created_at"),)
    kit_id: Mapped[int] = mapped_column(ForeignKey("kits.id", ondelete="CASCADE"))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind))
    actor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    from_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    to_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    kit: Mapped[Kit] = relationship(back_populates="events")


class MaintenanceRecord(IntPK, Timestamps, Base):
    __tablename__ = "maintenance_records"
    kit_id: Mapped[int] = mapped_column(ForeignKey("kits.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String(500))
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    kit: Mapped[Kit] = relationship(back_populates="maintenance")
