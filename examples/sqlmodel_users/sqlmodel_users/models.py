"""SQLModel ``table=True`` classes on their own registry (and so their own MetaData).

No ``from __future__ import annotations``: SQLModel reads the annotations at class
creation to build both the Pydantic fields and the SQLAlchemy columns.
"""

import datetime as dt
from typing import Any

from sqlalchemy import MetaData, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, Relationship, SQLModel

from sqlops.models import NAMING_CONVENTION, UTCDateTime, utcnow


class Base(SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))):
    """Keeps this example's tables out of SQLModel's global metadata."""


def created_at() -> Any:
    """A creation time; the column default (not only Pydantic's) so bulk inserts get it too."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow})


class Team(Base, table=True):
    __tablename__ = "sm_teams"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50, unique=True)
    users: list["User"] = Relationship(back_populates="team")


class User(Base, table=True):
    __tablename__ = "sm_users"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=40, unique=True)
    email: str = Field(max_length=255, unique=True)
    full_name: str | None = Field(default=None, max_length=100)
    team_id: int | None = Field(default=None, foreign_key="sm_teams.id")
    created_at: dt.datetime = created_at()
    team: Team | None = Relationship(back_populates="users")
    posts: list["Post"] = Relationship(back_populates="author", cascade_delete=True)


class Post(Base, table=True):
    __tablename__ = "sm_posts"
    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(foreign_key="sm_users.id", index=True)
    title: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    created_at: dt.datetime = created_at()
    author: User = Relationship(back_populates="posts")


class UserCreate(SQLModel):
    username: str = Field(min_length=2, max_length=40)
    email: str = Field(max_length=255)
    full_name: str | None = Field(default=None, max_length=100)
    team_id: int | None = None


class UserRead(SQLModel):
    id: int
    username: str
    email: str
    full_name: str | None
    team_id: int | None


class PostCreate(SQLModel):
    title: str = Field(max_length=200)
    body: str


class PostRead(SQLModel):
    id: int
    author_id: int
    title: str
