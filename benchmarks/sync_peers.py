"""The sync peers of ``python -m benchmarks.sync_twin``: the raw drivers, the ORM, SQLModel, sqlops.

Each does one operation the way its users write it, from the same plain inputs as the async
benchmark (:mod:`benchmarks.workload`); reads return what the library returns, and
:func:`as_row` turns a result into an ``(id, email, name)`` tuple outside the timing.

* raw: one connection, autocommit. psycopg 3 prepared statements (``prepare=True``) and
  COPY for the insert; sqlite3 and PyMySQL cursors, ``executemany`` for the bulk writes.
* orm: a ``Session`` per unit of work (``session.get``, ``add_all`` + commit).
* sqlmodel: the same through SQLModel's ``Session`` and a ``table=True`` class.
* sqlops.sync: ``sync.Repository(User, db)`` standalone; sqlops.sync-injected: a
  ``db.transaction()`` / ``db.session()`` per unit of work.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import sessionmaker

from sqlops import sync

from .impl_core import upsert_statement
from .schema import User
from .target import SQLITE_PRAGMAS
from .workload import Row

Change = tuple[int, str]
PageResult = tuple[list[Any], int]

SELECT = "SELECT id, email, name FROM users WHERE id = {0}"
PAGE = (
    "SELECT id, email, name, count(*) OVER () FROM users WHERE name LIKE {0} "
    "ORDER BY id LIMIT {0} OFFSET {0}"
)
UPDATE = "UPDATE users SET name = {0} WHERE id = {0}"
UPSERT = {
    "postgresql": "INSERT INTO users (id, email, name) VALUES ({0}, {0}, {0}) "
    "ON CONFLICT (email) DO UPDATE SET name = excluded.name",
    "sqlite": "INSERT INTO users (id, email, name) VALUES ({0}, {0}, {0}) "
    "ON CONFLICT (email) DO UPDATE SET name = excluded.name",
    "mysql": "INSERT INTO users (id, email, name) VALUES ({0}, {0}, {0}) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name)",
}
INSERT = "INSERT INTO users (id, email, name) VALUES ({0}, {0}, {0})"


def as_row(item: Any) -> Row:
    if isinstance(item, tuple):
        return (item[0], item[1], item[2])
    return (item.id, item.email, item.name)


class Peer:
    name: ClassVar[str]
    raw: ClassVar[bool] = False
    skips: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: URL, backend: str) -> None:
        self.url = url
        self.backend = backend

    def close(self) -> None: ...


class Raw(Peer):
    """The driver on one connection in autocommit mode: the limit."""

    name = "raw"
    raw = True

    def __init__(self, url: URL, backend: str) -> None:
        super().__init__(url, backend)
        self.mark = "?" if backend == "sqlite" else "%s"
        self.conn = _connect(url, backend)
        self.sql = {
            key: text.format(self.mark)
            for key, text in {
                "select": SELECT,
                "page": PAGE,
                "update": UPDATE,
                "insert": INSERT,
                "upsert": UPSERT[backend],
            }.items()
        }
        self.prepared = {"prepare": True} if backend == "postgresql" else {}

    def close(self) -> None:
        self.conn.close()

    def _begin(self, cursor: Any, write: bool = False) -> None:
        if self.backend == "sqlite":
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        else:
            cursor.execute("BEGIN")

    def insert(self, rows: list[dict[str, Any]]) -> None:
        cursor = self.conn.cursor()
        values = [(r["id"], r["email"], r["name"]) for r in rows]
        self._begin(cursor, write=True)
        if self.backend == "postgresql":
            with cursor.copy("COPY users (id, email, name) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            cursor.executemany(self.sql["insert"], values)
        cursor.execute("COMMIT")
        cursor.close()

    def get(self, ids: list[int]) -> list[Any]:
        cursor = self.conn.cursor()
        sql, prepared = self.sql["select"], self.prepared
        out = []
        for i in ids:
            cursor.execute(sql, (i,), **prepared)
            out.append(cursor.fetchone())
        cursor.close()
        return out

    def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        cursor = self.conn.cursor()
        out = []
        for number in numbers:
            args = (pattern, per_page, (number - 1) * per_page)
            cursor.execute(self.sql["page"], args, **self.prepared)
            rows = cursor.fetchall()
            out.append(([r[:3] for r in rows], rows[0][3] if rows else 0))
        cursor.close()
        return out

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        cursor = self.conn.cursor()
        values = [(r["id"], r["email"], r["name"]) for r in rows]
        self._begin(cursor, write=True)
        cursor.executemany(self.sql["upsert"], values)
        cursor.execute("COMMIT")
        cursor.close()

    def tx_update(self, changes: list[Change]) -> None:
        cursor = self.conn.cursor()
        select_sql, update_sql, prepared = self.sql["select"], self.sql["update"], self.prepared
        for i, name in changes:
            self._begin(cursor, write=True)
            cursor.execute(select_sql, (i,), **prepared)
            cursor.fetchone()
            cursor.execute(update_sql, (name, i), **prepared)
            cursor.execute("COMMIT")
        cursor.close()


def _connect(url: URL, backend: str) -> Any:
    if backend == "sqlite":
        import sqlite3

        conn = sqlite3.connect(str(url.database), isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(pragma)
        return conn
    if backend == "postgresql":
        import psycopg

        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(dsn, autocommit=True)
    import pymysql

    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=url.database,
        charset="utf8mb4",
        autocommit=True,
    )


def plain_engine(url: URL, backend: str) -> Any:
    """A sync engine with SQLAlchemy's defaults (plus the shared SQLite pragmas)."""
    engine = create_engine(url)
    if backend == "sqlite":

        @event.listens_for(engine, "connect")
        def pragmas(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

    return engine


class Orm(Peer):
    """Plain SQLAlchemy ORM: a ``Session`` per unit of work, as SQLAlchemy's docs show."""

    name = "orm"
    model: Any = User
    session_class: Any = None

    def __init__(self, url: URL, backend: str) -> None:
        super().__init__(url, backend)
        self.engine = plain_engine(url, backend)
        options = {"class_": self.session_class} if self.session_class else {}
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, **options)

    def close(self) -> None:
        self.engine.dispose()

    def insert(self, rows: list[dict[str, Any]]) -> None:
        with self.sessions() as session:
            session.add_all([self.model(**row) for row in rows])
            session.commit()

    def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            with self.sessions() as session:
                out.append(session.get(self.model, i))
        return out

    def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        model, out = self.model, []
        for number in numbers:
            stmt = (
                select(model, func.count().over())
                .where(model.name.like(pattern))
                .order_by(model.id)
                .limit(per_page)
                .offset((number - 1) * per_page)
            )
            with self.sessions() as session:
                rows = session.execute(stmt).all()
            out.append(([row[0] for row in rows], rows[0][1] if rows else 0))
        return out

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        with self.sessions() as session:
            session.execute(upsert_statement(self.backend, self.model), rows)
            session.commit()

    def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            with self.sessions.begin() as session:
                user = session.get(self.model, i)
                assert user is not None
                user.name = name


class SqlModelPeer(Orm):
    """SQLModel: a ``table=True`` class and SQLModel's ``Session`` (``exec`` for selects)."""

    name = "sqlmodel"

    def __init__(self, url: URL, backend: str) -> None:
        from sqlmodel import Session as SqlModelSession

        self.session_class = SqlModelSession
        self.model = sqlmodel_user()
        super().__init__(url, backend)

    def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        from sqlmodel import col
        from sqlmodel import select as sm_select

        model, out = self.model, []
        for number in numbers:
            stmt = (
                sm_select(model, func.count().over())
                .where(col(model.name).like(pattern))
                .order_by(col(model.id))
                .limit(per_page)
                .offset((number - 1) * per_page)
            )
            with self.sessions() as session:
                rows = session.exec(stmt).all()
            out.append(([row[0] for row in rows], rows[0][1] if rows else 0))
        return out


_SQLMODEL_USER: Any = None


def sqlmodel_user() -> Any:
    """``users`` as a SQLModel table class, on a registry of its own (not SQLModel.metadata)."""
    global _SQLMODEL_USER
    if _SQLMODEL_USER is None:
        from sqlalchemy import MetaData
        from sqlalchemy.orm import registry
        from sqlmodel import Field, SQLModel

        class BenchBase(SQLModel, registry=registry(metadata=MetaData())):
            pass

        class SmUser(BenchBase, table=True):
            __tablename__ = "users"
            id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
            email: str = Field(max_length=255, unique=True)
            name: str = Field(max_length=100, index=True)

        _SQLMODEL_USER = SmUser
    return _SQLMODEL_USER


class Sqlops(Peer):
    """``sync.Repository(User, db)``: every call its own committed transaction."""

    name = "sqlops.sync"
    skips = frozenset({"tx-update"})  # a transaction around calls is injected mode

    def __init__(self, url: URL, backend: str) -> None:
        super().__init__(url, backend)
        self.db = sync.Database(url)
        self.users = sync.Repository(User, self.db)

    def close(self) -> None:
        self.db.dispose()

    def insert(self, rows: list[dict[str, Any]]) -> None:
        self.users.create_many(rows)

    def get(self, ids: list[int]) -> list[Any]:
        get = self.users.get
        return [get(i) for i in ids]

    def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            page = self.users.page(
                name__like=pattern, page=number, per_page=per_page, order_by="id"
            )
            out.append((page.items, page.total))
        return out

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        self.users.upsert_many(rows, conflict="email")


class SqlopsInjected(Sqlops):
    """``sync.Repository(User, session)`` in a ``db.session()`` / ``db.transaction()`` per unit."""

    name = "sqlops.sync-injected"
    skips = frozenset()

    def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            with self.db.transaction() as session:
                users = sync.Repository(User, session)
                user = users.get(i)  # held, as the ORM peer holds it: one SELECT
                assert user is not None
                users.update(i, name=name)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        with self.db.transaction() as session:
            sync.Repository(User, session).create_many(rows)

    def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            with self.db.session() as session:
                out.append(sync.Repository(User, session).get(i))
        return out

    def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            with self.db.session() as session:
                page = sync.Repository(User, session).page(
                    name__like=pattern, page=number, per_page=per_page, order_by="id"
                )
            out.append((page.items, page.total))
        return out

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        with self.db.transaction() as session:
            sync.Repository(User, session).upsert_many(rows, conflict="email")


PEERS: tuple[type[Peer], ...] = (Raw, Orm, SqlModelPeer, Sqlops, SqlopsInjected)
