"""The squads schema."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, MetaData, String, UniqueConstraint
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlops.models import NAMING_CONVENTION, IntPK, SoftDelete, Timestamps, UTCDateTime, utcnow


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Role(enum.Enum):
    owner = "owner"
    member = "member"


class TaskStatus(enum.Enum):
    todo = "todo"
    doing = "doing"
    done = "done"


class User(IntPK, Timestamps, SoftDelete, Base):
    """Soft-deleted users disappear from every read but keep their history (and email)."""

    __tablename__ = "users"
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Squad(IntPK, Timestamps, Base):
    __tablename__ = "squads"
    name: Mapped[str] = mapped_column(String(80), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    members: Mapped[list[Membership]] = relationship(
        back_populates="squad", cascade="all, delete-orphan", order_by="Membership.user_id"
    )
    tasks: Mapped[list[Task]] = relationship(back_populates="squad", cascade="all, delete-orphan")


class Membership(Base):
    __tablename__ = "squad_members"
    squad_id: Mapped[int] = mapped_column(ForeignKey("squads.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=10))
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    squad: Mapped[Squad] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Task(IntPK, Timestamps, Base):
    __tablename__ = "tasks"
    squad_id: Mapped[int] = mapped_column(ForeignKey("squads.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[TaskStatus] = mapped_column(
        Enum(TaskStatus, native_enum=False, length=10), default=TaskStatus.todo
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    squad: Mapped[Squad] = relationship(back_populates="tasks")


class Feedback(IntPK, Timestamps, Base):
    """One rating (1-5) per user per task."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(String(500), default=None)


class UsageMetric(Base):
    """A per-squad, per-day counter (API calls, tokens...)."""

    __tablename__ = "usage_metrics"
    squad_id: Mapped[int] = mapped_column(ForeignKey("squads.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(50), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
