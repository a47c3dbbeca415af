"""The model styles users bring, each with what the server will say about its constraints.

Every style has a main model (the CRUD target) with a tag column (each test's rows carry
their own tag, so tests share one schema), a unique key, a required column, a CHECK'ed
integer that is also the counter, and a child model with a foreign key to it. None uses
``sqlops.models.Base``'s naming convention: the servers name the constraints, and the
expected names below are the servers' own (asserted exactly, not derived by sqlops).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    column,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column
from sqlmodel import Field, SQLModel

from sqlops.models import SoftDelete

Expected = tuple[str, tuple[str, ...], str | None]  # table, columns, constraint


def names(
    table: str, columns: tuple[str, ...], postgresql: str | None, mysql: str | None
) -> dict[str, Expected]:
    """What each backend reports: SQLite names no unnamed constraint."""
    return {
        "sqlite": (table, columns, None),
        "postgresql": (table, columns, postgresql),
        "mysql": (table, columns, mysql),
    }


@dataclass
class Style:
    """One way of writing models, and the names its violations must carry per backend."""

    name: str
    metadata: MetaData
    model: type[Any]
    child: type[Any]
    row: Callable[[str, int], dict[str, Any]]  # the main model's values for row i of a tag
    child_row: Callable[[str, Any], dict[str, Any]]  # a child of parent pk
    pk: Callable[[Any], Any]  # an instance -> its primary key, as Repository takes it
    unique: tuple[str, ...]  # attributes of the unique key
    required: str  # NOT NULL, no default
    counter: str  # an integer with CHECK (>= 0)
    tag: str = "tag"
    soft_delete: bool = False
    backends: tuple[str, ...] = ("sqlite", "postgresql", "mysql")
    schema: str | None = None
    upsert: bool = True  # False: rows span tables, upsert refuses (TypeError)
    expect: dict[str, dict[str, Expected]] = field(default_factory=dict)

    @property
    def tables(self) -> list[Table]:
        return list(self.metadata.sorted_tables)

    @property
    def pk_keys(self) -> tuple[str, ...]:
        """The primary key's attribute names."""
        mapper = inspect(self.model)
        return tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)

    def missing_parent(self) -> Any:
        """A primary key no parent row has."""
        keys = inspect(self.model).primary_key
        if len(keys) > 1:
            return ("nobody", 10**6)
        return uuid.uuid4() if keys[0].type.python_type is uuid.UUID else 10**6


def _int_pk(obj: Any) -> Any:
    return obj.id


# ----------------------------------------------------------------------------- plain


class PlainBase(DeclarativeBase):
    """A plain DeclarativeBase: no naming convention, no type map."""


class PlainAuthor(SoftDelete, PlainBase):
    __tablename__ = "p_author"
    __table_args__ = (CheckConstraint("age >= 0"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), index=True)
    email: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    age: Mapped[int] = mapped_column(default=0)


class PlainBook(PlainBase):
    __tablename__ = "p_book"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int] = mapped_column(ForeignKey("p_author.id"))


def _person_row(tag: str, i: int) -> dict[str, Any]:
    return {"tag": tag, "email": f"{tag}-{i}@x", "name": f"n{i:04d}", "age": i}


PLAIN = Style(
    "plain",
    PlainBase.metadata,
    PlainAuthor,
    PlainBook,
    _person_row,
    lambda tag, parent: {"tag": tag, "author_id": parent},
    _int_pk,
    ("email",),
    "name",
    "age",
    soft_delete=True,
    expect={
        "unique": names("p_author", ("email",), "p_author_email_key", "email"),
        "foreign": names("p_book", ("author_id",), "p_book_author_id_fkey", "p_book_ibfk_1"),
        "not_null": names("p_author", ("name",), None, None),
        "check": names("p_author", ("age",), "p_author_age_check", "CONSTRAINT_1"),
    },
)


# ----------------------------------------------------------------------------- dataclass


class DataBase(MappedAsDataclass, DeclarativeBase):
    """Dataclass mapping: constructors take the fields, defaults are dataclass defaults."""


class DataAuthor(DataBase):
    __tablename__ = "d_author"
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    tag: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    age: Mapped[int] = mapped_column(Integer, CheckConstraint("age >= 0"), default=0)


class DataBook(DataBase):
    __tablename__ = "d_book"
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    tag: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int] = mapped_column(ForeignKey("d_author.id"))


DATACLASS = Style(
    "dataclass",
    DataBase.metadata,
    DataAuthor,
    DataBook,
    _person_row,
    lambda tag, parent: {"tag": tag, "author_id": parent},
    _int_pk,
    ("email",),
    "name",
    "age",
    expect={
        "unique": names("d_author", ("email",), "d_author_email_key", "email"),
        "foreign": names("d_book", ("author_id",), "d_book_author_id_fkey", "d_book_ibfk_1"),
        "not_null": names("d_author", ("name",), None, None),
        # a column-level CHECK: MariaDB names it after its column
        "check": names("d_author", ("age",), "d_author_age_check", "age"),
    },
)


# ----------------------------------------------------------------------------- SQLModel


class SqlModelAuthor(SQLModel, table=True):
    __tablename__ = "sm_author"
    __table_args__ = (CheckConstraint("age >= 0"),)
    id: int | None = Field(default=None, primary_key=True)
    tag: str = Field(max_length=40)
    email: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=80)
    age: int = 0


class SqlModelBook(SQLModel, table=True):
    __tablename__ = "sm_book"
    id: int | None = Field(default=None, primary_key=True)
    tag: str = Field(max_length=40)
    author_id: int = Field(foreign_key="sm_author.id")


SQLMODEL = Style(
    "sqlmodel",
    SQLModel.metadata,
    SqlModelAuthor,
    SqlModelBook,
    _person_row,
    lambda tag, parent: {"tag": tag, "author_id": parent},
    _int_pk,
    ("email",),
    "name",
    "age",
    expect={
        "unique": names("sm_author", ("email",), "sm_author_email_key", "email"),
        "foreign": names("sm_book", ("author_id",), "sm_book_author_id_fkey", "sm_book_ibfk_1"),
        "not_null": names("sm_author", ("name",), None, None),
        "check": names("sm_author", ("age",), "sm_author_age_check", "CONSTRAINT_1"),
    },
)


# ----------------------------------------------------------------------------- composite key


class CompositeBase(DeclarativeBase):
    pass


class CompositeItem(CompositeBase):
    __tablename__ = "c_item"
    __table_args__ = (CheckConstraint("age >= 0"),)
    tenant: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tag: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    age: Mapped[int] = mapped_column(default=0)


class CompositeLine(CompositeBase):
    __tablename__ = "c_line"
    __table_args__ = (ForeignKeyConstraint(["tenant", "code"], ["c_item.tenant", "c_item.code"]),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    tenant: Mapped[str] = mapped_column(String(40))
    code: Mapped[int]


COMPOSITE = Style(
    "composite_pk",
    CompositeBase.metadata,
    CompositeItem,
    CompositeLine,
    lambda tag, i: {"tenant": tag, "code": i, "tag": tag, "name": f"n{i:04d}", "age": i},
    lambda tag, parent: {"tag": tag, "tenant": parent[0], "code": parent[1]},
    lambda obj: (obj.tenant, obj.code),
    ("tenant", "code"),
    "name",
    "age",
    expect={
        "unique": names("c_item", ("tenant", "code"), "c_item_pkey", "PRIMARY"),
        "foreign": names("c_line", ("tenant", "code"), "c_line_tenant_code_fkey", "c_line_ibfk_1"),
        "not_null": names("c_item", ("name",), None, None),
        "check": names("c_item", ("age",), "c_item_age_check", "CONSTRAINT_1"),
    },
)


# ----------------------------------------------------------------------------- UUID key


class UuidBase(DeclarativeBase):
    pass


class UuidItem(UuidBase):
    __tablename__ = "u_item"
    __table_args__ = (CheckConstraint("age >= 0 AND age < 1000000000"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tag: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    age: Mapped[int] = mapped_column(default=0)


class UuidChild(UuidBase):
    __tablename__ = "u_child"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tag: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("u_item.id"))


UUID = Style(
    "uuid_pk",
    UuidBase.metadata,
    UuidItem,
    UuidChild,
    _person_row,
    lambda tag, parent: {"tag": tag, "item_id": parent},
    _int_pk,
    ("email",),
    "name",
    "age",
    expect={
        "unique": names("u_item", ("email",), "u_item_email_key", "email"),
        "foreign": names("u_child", ("item_id",), "u_child_item_id_fkey", "u_child_ibfk_1"),
        "not_null": names("u_item", ("name",), None, None),
        "check": names("u_item", ("age",), "u_item_age_check", "CONSTRAINT_1"),
    },
)


# ----------------------------------------------------------------------------- joined inheritance


class JoinedBase(DeclarativeBase):
    pass


class JoinedPerson(JoinedBase):
    __tablename__ = "j_person"
    __table_args__ = (CheckConstraint("age >= 0"),)
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "person"}
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    tag: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    age: Mapped[int] = mapped_column(default=0)


class JoinedEmployee(JoinedPerson):
    __tablename__ = "j_employee"
    __mapper_args__ = {"polymorphic_identity": "employee"}
    id: Mapped[int] = mapped_column(ForeignKey("j_person.id"), primary_key=True)
    email: Mapped[str] = mapped_column(String(80), unique=True)


class JoinedTask(JoinedBase):
    __tablename__ = "j_task"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    employee_id: Mapped[int] = mapped_column(ForeignKey("j_employee.id"))


JOINED = Style(
    "joined_inheritance",
    JoinedBase.metadata,
    JoinedEmployee,
    JoinedTask,
    _person_row,
    lambda tag, parent: {"tag": tag, "employee_id": parent},
    _int_pk,
    ("email",),
    "name",
    "age",
    upsert=False,
    expect={
        "unique": names("j_employee", ("email",), "j_employee_email_key", "email"),
        "foreign": names("j_task", ("employee_id",), "j_task_employee_id_fkey", "j_task_ibfk_1"),
        "not_null": names("j_person", ("name",), None, None),
        "check": names("j_person", ("age",), "j_person_age_check", "CONSTRAINT_1"),
    },
)


# ----------------------------------------------------------------------------- single-table


class SingleBase(DeclarativeBase):
    pass


class SingleAnimal(SingleBase):
    __tablename__ = "s_animal"
    __table_args__ = (CheckConstraint("age >= 0"),)
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "animal"}
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    tag: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    age: Mapped[int] = mapped_column(default=0)


class SingleDog(SingleAnimal):
    __mapper_args__ = {"polymorphic_identity": "dog"}
    breed: Mapped[str | None] = mapped_column(String(40), default=None)


class SingleToy(SingleBase):
    __tablename__ = "s_toy"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    animal_id: Mapped[int] = mapped_column(ForeignKey("s_animal.id"))


SINGLE = Style(
    "single_inheritance",
    SingleBase.metadata,
    SingleDog,
    SingleToy,
    _person_row,
    lambda tag, parent: {"tag": tag, "animal_id": parent},
    _int_pk,
    ("email",),
    "name",
    "age",
    expect={
        "unique": names("s_animal", ("email",), "s_animal_email_key", "email"),
        "foreign": names("s_toy", ("animal_id",), "s_toy_animal_id_fkey", "s_toy_ibfk_1"),
        "not_null": names("s_animal", ("name",), None, None),
        "check": names("s_animal", ("age",), "s_animal_age_check", "CONSTRAINT_1"),
    },
)


# ----------------------------------------------------------------------------- schema


class SchemaBase(DeclarativeBase):
    metadata = MetaData(schema="app")


class SchemaAuthor(SchemaBase):
    __tablename__ = "author"
    __table_args__ = (CheckConstraint("age >= 0"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    age: Mapped[int] = mapped_column(default=0)


class SchemaBook(SchemaBase):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int] = mapped_column(ForeignKey("app.author.id"))


SCHEMA = Style(
    "schema_qualified",
    SchemaBase.metadata,
    SchemaAuthor,
    SchemaBook,
    _person_row,
    lambda tag, parent: {"tag": tag, "author_id": parent},
    _int_pk,
    ("email",),
    "name",
    "age",
    backends=("postgresql",),
    schema="app",
    expect={
        "unique": names("author", ("email",), "author_email_key", None),
        "foreign": names("book", ("author_id",), "book_author_id_fkey", None),
        "not_null": names("author", ("name",), None, None),
        "check": names("author", ("age",), "author_age_check", None),
    },
)


# ----------------------------------------------------------------------------- reserved words


class ReservedBase(DeclarativeBase):
    pass


class ReservedOrder(ReservedBase):
    __tablename__ = "order"
    __table_args__ = (UniqueConstraint("group", "order"), CheckConstraint(column("desc") >= 0))
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    group: Mapped[str] = mapped_column(String(40))
    order: Mapped[int]
    select: Mapped[str] = mapped_column(String(80))
    desc: Mapped[int] = mapped_column(default=0)


class ReservedUser(ReservedBase):
    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"))


RESERVED = Style(
    "reserved_words",
    ReservedBase.metadata,
    ReservedOrder,
    ReservedUser,
    lambda tag, i: {"tag": tag, "group": tag, "order": i, "select": f"n{i:04d}", "desc": i},
    lambda tag, parent: {"tag": tag, "order_id": parent},
    _int_pk,
    ("group", "order"),
    "select",
    "desc",
    expect={
        "unique": names("order", ("group", "order"), "order_group_order_key", "group"),
        "foreign": names("user", ("order_id",), "user_order_id_fkey", "user_ibfk_1"),
        "not_null": names("order", ("select",), None, None),
        "check": names("order", ("desc",), "order_desc_check", "CONSTRAINT_1"),
    },
)


# ----------------------------------------------------------------------------- mixed case


class MixedBase(DeclarativeBase):
    pass


class Mixed(MixedBase):
    __tablename__ = "MixedCase"
    __table_args__ = (CheckConstraint(column("Age") >= 0),)
    id: Mapped[int] = mapped_column(primary_key=True)
    Tag: Mapped[str] = mapped_column(String(40))
    EMail: Mapped[str] = mapped_column(String(80), unique=True)
    DisplayName: Mapped[str] = mapped_column(String(80))
    Age: Mapped[int] = mapped_column(default=0)


class MixedChild(MixedBase):
    __tablename__ = "MixedChild"
    id: Mapped[int] = mapped_column(primary_key=True)
    Tag: Mapped[str] = mapped_column(String(40))
    ParentId: Mapped[int] = mapped_column(ForeignKey("MixedCase.id"))


MIXED = Style(
    "mixed_case",
    MixedBase.metadata,
    Mixed,
    MixedChild,
    lambda tag, i: {"Tag": tag, "EMail": f"{tag}-{i}@x", "DisplayName": f"n{i:04d}", "Age": i},
    lambda tag, parent: {"Tag": tag, "ParentId": parent},
    _int_pk,
    ("EMail",),
    "DisplayName",
    "Age",
    tag="Tag",
    expect={
        "unique": names("MixedCase", ("EMail",), "MixedCase_EMail_key", "EMail"),
        "foreign": names(
            "MixedChild", ("ParentId",), "MixedChild_ParentId_fkey", "MixedChild_ibfk_1"
        ),
        "not_null": names("MixedCase", ("DisplayName",), None, None),
        "check": names("MixedCase", ("Age",), "MixedCase_Age_check", "CONSTRAINT_1"),
    },
)


STYLES = [PLAIN, DATACLASS, SQLMODEL, COMPOSITE, UUID, JOINED, SINGLE, SCHEMA, RESERVED, MIXED]


def sqlmodel_tables() -> list[Table]:
    """Only this matrix's SQLModel tables (SQLModel.metadata is shared process-wide)."""
    return [SqlModelAuthor.__table__, SqlModelBook.__table__]  # type: ignore[list-item]
