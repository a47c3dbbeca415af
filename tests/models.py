"""The schema the core tests run against (its own metadata, not sqlops.models.Base)."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid

from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlops.models import TYPE_ANNOTATION_MAP, UUIDPK, IntPK, SoftDelete, Timestamps, new_metadata


class Base(AsyncAttrs, DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Role(enum.Enum):
    member = "member"
    admin = "admin"


class Team(IntPK, Base):
    __tablename__ = "teams"
    name: Mapped[str] = mapped_column(String(50), unique=True)
    members: Mapped[list[User]] = relationship(back_populates="team")


post_tags = Table(
    "post_tags",
    Base.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class User(IntPK, Timestamps, Base):
    __tablename__ = "users"
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    age: Mapped[int | None] = mapped_column(default=None)
    score: Mapped[float] = mapped_column(default=0.0)
    active: Mapped[bool] = mapped_column(default=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20), default=Role.member
    )
    nickname: Mapped[str | None] = mapped_column(String(50), default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), default=None)
    team: Mapped[Team | None] = relationship(back_populates="members")
    posts: Mapped[list[Post]] = relationship(
        back_populates="author", cascade="all, delete-orphan", order_by="Post.id"
    )


class Tag(IntPK, Base):
    __tablename__ = "tags"
    label: Mapped[str] = mapped_column(String(30), unique=True)


class Post(IntPK, Base):
    __tablename__ = "posts"
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author: Mapped[User] = relationship(back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, order_by="Tag.id")


class Account(IntPK, Base):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_nonneg"),)
    owner: Mapped[str] = mapped_column(String(50), unique=True)
    balance: Mapped[int] = mapped_column(default=0)
    small: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2), default=decimal.Decimal("0"))


class Note(IntPK, Timestamps, SoftDelete, Base):
    __tablename__ = "notes"
    body: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str | None] = mapped_column(String(50), default=None)


class Counter(Base):
    __tablename__ = "counters"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)
    ratio: Mapped[float] = mapped_column(default=0.0)


class Event(UUIDPK, Base):
    __tablename__ = "events"
    name: Mapped[str] = mapped_column(String(50))
    at: Mapped[dt.datetime | None] = mapped_column(default=None)
    day: Mapped[dt.date | None] = mapped_column(default=None)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("team_id", "seat"),)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    seat: Mapped[int] = mapped_column(default=0)
    since: Mapped[uuid.UUID | None] = mapped_column(default=None)
