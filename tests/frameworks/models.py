"""The shapes users bring, for the framework tests: a composite key with a UUID half,
reserved words as table and column names.

The metadata has sqlops' naming convention: without one, PostgreSQL and MariaDB name
the constraints themselves and today's translator cannot yet name the column (the
constraints work of wave 2 fixes that; then this can be a plain ``DeclarativeBase``).
"""

import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, ForeignKeyConstraint, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqlops.models import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Author(Base):
    __tablename__ = "fw_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int | None] = mapped_column(default=None)


class Member(Base):
    """A composite primary key, half of it a UUID."""

    __tablename__ = "fw_members"
    author_id: Mapped[int] = mapped_column(ForeignKey("fw_authors.id"), primary_key=True)
    token: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(20))


class Group(Base):
    """Reserved words: the table is ``group``, a column is ``order``."""

    __tablename__ = "group"
    id: Mapped[int] = mapped_column(primary_key=True)
    order: Mapped[int] = mapped_column()


class AuthorIn(BaseModel):
    email: str
    name: str
    age: int | None = None


class AuthorPatch(BaseModel):
    email: str | None = None
    name: str | None = None
    age: int | None = None


class AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str
    age: int | None


class MemberIn(BaseModel):
    author_id: int
    token: uuid.UUID
    role: str


class MemberOut(MemberIn):
    model_config = ConfigDict(from_attributes=True)


class GroupIn(BaseModel):
    order: int


class GroupOut(GroupIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


FILTERS = ["name", "name__ilike", "age__gt", "age__in", "age__is_null"]


class Note(Base):
    """A deferred foreign key: checked at COMMIT (PostgreSQL, SQLite), not at INSERT."""

    __tablename__ = "fw_notes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["author_id"], ["fw_authors.id"], deferrable=True, initially="DEFERRED"
        ).ddl_if(dialect=("postgresql", "sqlite")),  # MariaDB has no deferred constraints
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int]
