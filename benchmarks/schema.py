"""The one table every implementation works on: ``users(id, email unique, name indexed)``."""

from __future__ import annotations

from sqlalchemy import MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TABLE_NAME = "users"
COLUMNS = ("id", "email", "name")


class Base(DeclarativeBase):
    """A plain declarative base: no sqlops mixins, so every peer maps the same class."""

    metadata = MetaData()


class User(Base):
    __tablename__ = TABLE_NAME

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r}, name={self.name!r})"


users: Table = User.__table__  # type: ignore[assignment]
