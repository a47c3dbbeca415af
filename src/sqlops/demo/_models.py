"""The demo's own tables (``demo_*``, on their own MetaData): nothing else is touched."""

from __future__ import annotations

from sqlalchemy import ForeignKey, MetaData, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlops.models import NAMING_CONVENTION, IntPK, Timestamps


class DemoBase(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Team(IntPK, DemoBase):
    __tablename__ = "demo_teams"

    name: Mapped[str] = mapped_column(String(50), unique=True)
    members: Mapped[list[User]] = relationship(back_populates="team")


class User(IntPK, Timestamps, DemoBase):
    __tablename__ = "demo_users"

    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("demo_teams.id"))
    team: Mapped[Team | None] = relationship(back_populates="members")


class Event(IntPK, DemoBase):
    __tablename__ = "demo_events"

    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int]
