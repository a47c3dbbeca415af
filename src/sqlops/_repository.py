"""Repository[Model]: CRUD, filters, pagination and streaming for one mapped class.

Two modes, chosen by what you pass:

* ``Repository(User, db)`` — standalone: every call is its own transaction, committed
  (reads use a read-only transaction, which may be served by a replica).
* ``Repository(User, session)`` — injected: calls only flush; the code that opened the
  transaction commits or rolls back, so several repositories can write atomically.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import with_loader_criteria

from . import _bulk, _fastread, _filters, _pagination
from ._database import Database
from ._errors import (
    InvalidFilterError,
    InvalidValueError,
    MultipleFoundError,
    NotFoundError,
    UniqueViolation,
)
from ._modelinfo import ModelInfo, model_info
from ._pagination import CursorPage, Page
from ._url import dialect_family
from .models import SoftDelete, utcnow

M = TypeVar("M")
T = TypeVar("T")

_LOOKUP_LOCK_NAMESPACE = 0x5A1


class Repository(Generic[M]):
    """Data access for ``model``, bound to a :class:`Database` or an ``AsyncSession``."""

    def __init__(self, model: type[M], bind: Database | AsyncSession) -> None:
        self.model = model
        self.info: ModelInfo = model_info(model)
        if isinstance(bind, AsyncSession):
            self.db: Database | None = None
            self.session: AsyncSession | None = bind
        elif isinstance(bind, Database):
            self.db, self.session = bind, None
        else:
            raise TypeError(
                f"Repository({model.__name__}, …) needs a sqlops.Database or an AsyncSession, "
                f"not {type(bind).__name__}"
            )
        self._dialect: str | None = bind.dialect if isinstance(bind, Database) else None

    def __repr__(self) -> str:
        mode = "standalone" if self.db is not None else "injected"
        return f"Repository({self.info.name}, {mode})"

    # ------------------------------------------------------------------ sessions

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        if self.session is not None:
            yield self.session
        else:
            assert self.db is not None
            async with self.db.transaction() as session:
                yield session

    async def _read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``fn(session)`` on the injected session, or as a standalone read."""
        if self.session is not None:
            return await fn(self.session)
        assert self.db is not None
        return await self.db._read(fn)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (for streams, which need one for server-side cursors)."""
        if self.session is not None:
            yield self.session
        else:
            assert self.db is not None
            async with self.db.transaction(readonly=True) as session:
                yield session

    @property
    def dialect(self) -> str:
        """The backend family: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``."""
        if self._dialect is None:
            assert self.session is not None
            bind = self.session.sync_session.get_bind(self.info.mapper)
            self._dialect = dialect_family(bind.engine.url)
        return self._dialect

    # ------------------------------------------------------------------ statements

    def select(
        self,
        *where: ColumnElement[bool],
        order_by: Any = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        **filters: Any,
    ) -> Select[Any]:
        """Build the ``Select`` the read methods run (useful to extend by hand)."""
        return self._statement(None, where, order_by, load, with_deleted, filters)

    def _statement(
        self,
        plan: _fastread.ReadPlan | None,
        where: Sequence[ColumnElement[bool]],
        order_by: Any,
        load: Sequence[Any] | str,
        with_deleted: bool,
        filters: dict[str, Any],
    ) -> Select[Any]:
        """The read SELECT: of the model (ORM) or, with a fast plan, of its columns (Core)."""
        stmt: Select[Any] = select(self.model) if plan is None else plan.select()
        stmt = stmt.where(*where, *_filters.build_where(self.info, filters))
        stmt = self._soft(stmt, with_deleted)
        if load:
            stmt = stmt.options(*_filters.load_options(self.info, load))
            if not with_deleted:
                stmt = stmt.options(
                    with_loader_criteria(
                        SoftDelete,
                        lambda cls: cls.deleted_at.is_(None),
                        include_aliases=True,
                    )
                )
        if order_by is not None:
            stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by))
        return stmt

    def _plan(
        self, load: Sequence[Any] | str, for_update: bool = False
    ) -> _fastread.ReadPlan | None:
        """The session-free read plan, when this call can use it (standalone, no load=)."""
        if for_update and self.db is not None:
            raise ValueError(
                "for_update=True needs an injected session: in standalone mode the lock "
                "would end with the call's own transaction. Use Repository(Model, session)."
            )
        if self.db is None or load or for_update:
            return None
        plan = _fastread.plan_for(self.info)
        return plan if plan.eligible else None

    async def _fetch(self, stmt: Select[Any], plan: _fastread.ReadPlan | None) -> builtins.list[M]:
        """Run a read SELECT built by :meth:`_statement`; the model instances."""
        if plan is None:
            return await self._read(self._all(stmt))
        assert self.db is not None

        async def run(conn: AsyncConnection) -> builtins.list[M]:
            return plan.build_all((await conn.execute(stmt)).all())

        return await self.db._core_read(run)

    async def _fetch_rows(self, stmt: Select[Any], plan: _fastread.ReadPlan | None) -> Any:
        """Run a SELECT with extra columns; rows of (instance, *extra)."""
        if plan is None:

            async def orm(session: AsyncSession) -> Any:
                return (await session.execute(stmt)).unique().all()

            return await self._read(orm)
        assert self.db is not None
        width = len(plan.keys)

        async def core(conn: AsyncConnection) -> Any:
            rows = (await conn.execute(stmt)).all()
            return [(plan.build(row), *row[width:]) for row in rows]

        return await self.db._core_read(core)

    def _soft(self, stmt: Any, with_deleted: bool) -> Any:
        if self.info.soft_delete is not None and not with_deleted:
            return stmt.where(self.info.soft_delete.is_(None))
        return stmt

    def _pk_where(self, pk: Any) -> builtins.list[ColumnElement[bool]]:
        values = self._pk_values(pk)
        return [attr == value for attr, value in zip(self.info.pk_attrs, values, strict=True)]

    def _pk_values(self, pk: Any) -> tuple[Any, ...]:
        keys = self.info.pk_keys
        if len(keys) == 1 and type(pk) is self.info.pk_types[0]:
            return (pk,)  # the common case, already the column's type
        if isinstance(pk, Mapping):
            missing = [k for k in keys if k not in pk]
            if missing:
                raise InvalidFilterError(f"primary key of {self.info.name} needs {missing}")
            raw = tuple(pk[k] for k in keys)
        elif isinstance(pk, tuple | list):
            raw = tuple(pk)
        else:
            raw = (pk,)
        if len(raw) != len(keys):
            raise InvalidFilterError(
                f"{self.info.name} has a {len(keys)}-column primary key {keys}, got {len(raw)}"
            )
        return tuple(_filters.coercer(self.info, k, k)(v) for k, v in zip(keys, raw, strict=True))

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        pk: Any,
        *,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
    ) -> M | None:
        """The row with primary key ``pk`` (scalar, tuple or mapping), or None.

        ``for_update=True`` locks the row (``SELECT … FOR UPDATE``) until the injected
        session's transaction ends.
        """
        identity = self._pk_values(pk)
        plan = self._plan(load, for_update)
        if plan is not None:
            obj = await self._fast_get(plan, identity)
        else:
            options = _filters.load_options(self.info, load) if load else ()

            async def run(session: AsyncSession) -> M | None:
                return await session.get(
                    self.model, identity, options=options, with_for_update=for_update or None
                )

            obj = await self._read(run)
        if obj is not None and not with_deleted and self._is_deleted(obj):
            return None
        return obj

    async def _fast_get(self, plan: _fastread.ReadPlan, identity: tuple[Any, ...]) -> M | None:
        assert self.db is not None
        dialect = self.db.engine.sync_engine.dialect
        if dialect.driver == "asyncpg":
            return await self.db._driver_read(
                lambda driver: _fastread.fetch_by_pk(plan, dialect, driver, identity)
            )
        stmt = plan.select().where(
            *(plan.columns[i] == v for i, v in zip(plan.pk_positions, identity, strict=True))
        )

        async def run(conn: AsyncConnection) -> M | None:
            row = (await conn.execute(stmt)).first()
            return None if row is None else plan.build(row)

        return await self.db._core_read(run)

    async def get_one(
        self,
        pk: Any,
        *,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
    ) -> M:
        """Like :meth:`get`, but raise :class:`NotFoundError` when there is no such row."""
        obj = await self.get(pk, load=load, with_deleted=with_deleted, for_update=for_update)
        if obj is None:
            raise NotFoundError(self.model, pk)
        return obj

    def _is_deleted(self, obj: Any) -> bool:
        column = self.info.soft_delete
        return column is not None and getattr(obj, column.key) is not None

    async def first(
        self,
        *where: ColumnElement[bool],
        order_by: Any = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        **filters: Any,
    ) -> M | None:
        """The first matching row in ``order_by`` order (primary key by default), or None."""
        plan = self._plan(load, for_update)
        stmt = self._statement(plan, where, None, load, with_deleted, filters)
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by)).limit(1)
        stmt = stmt.with_for_update() if for_update else stmt
        rows = await self._fetch(stmt, plan)
        return rows[0] if rows else None

    async def one(
        self,
        *where: ColumnElement[bool],
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        **filters: Any,
    ) -> M:
        """The only matching row: NotFoundError if none, MultipleFoundError if several."""
        plan = self._plan(load, for_update)
        stmt = self._statement(plan, where, None, load, with_deleted, filters).limit(2)
        stmt = stmt.with_for_update() if for_update else stmt
        rows = await self._fetch(stmt, plan)
        if not rows:
            raise NotFoundError(self.model, filters or None, f"no {self.info.name} matches")
        if len(rows) > 1:
            raise MultipleFoundError(f"more than one {self.info.name} matches")
        found: M = rows[0]
        return found

    async def list(
        self,
        *where: ColumnElement[bool],
        order_by: Any = None,
        limit: int | None = None,
        offset: int | None = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        **filters: Any,
    ) -> builtins.list[M]:
        """Every matching row, in ``order_by`` order (primary key by default)."""
        plan = self._plan(load, for_update)
        stmt = self._statement(plan, where, None, load, with_deleted, filters)
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by))
        if limit is not None:
            stmt = stmt.limit(_non_negative("limit", limit))
        if offset is not None:
            stmt = stmt.offset(_non_negative("offset", offset))
        if for_update:
            stmt = stmt.with_for_update()
        return await self._fetch(stmt, plan)

    def _all(self, stmt: Select[Any]) -> Callable[[AsyncSession], Awaitable[builtins.list[M]]]:
        async def run(session: AsyncSession) -> builtins.list[M]:
            return builtins.list((await session.scalars(stmt)).unique())

        return run

    async def _scalar(self, stmt: Any) -> Any:
        if self.db is not None:  # no instances to build: always the Core path

            async def core(conn: AsyncConnection) -> Any:
                return (await conn.execute(stmt)).scalar()

            return await self.db._core_read(core)

        async def run(session: AsyncSession) -> Any:
            return (await session.execute(stmt)).scalar()

        return await self._read(run)

    async def count(
        self, *where: ColumnElement[bool], with_deleted: bool = False, **filters: Any
    ) -> int:
        """How many rows match."""
        stmt = select(func.count()).select_from(self.info.table)
        stmt = stmt.where(*where, *_filters.build_where(self.info, filters))
        stmt = self._soft(stmt, with_deleted)
        return int(await self._scalar(stmt))

    async def exists(
        self, *where: ColumnElement[bool], with_deleted: bool = False, **filters: Any
    ) -> bool:
        """Whether any row matches (stops at the first)."""
        stmt = select(*self.info.pk_attrs).where(*where, *_filters.build_where(self.info, filters))
        stmt = self._soft(stmt, with_deleted).limit(1)
        return await self._scalar(stmt) is not None

    async def page(
        self,
        *where: ColumnElement[bool],
        page: int = 1,
        per_page: int = 20,
        order_by: Any = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        **filters: Any,
    ) -> Page[M]:
        """Page ``page`` of ``per_page`` rows with the total, in one statement.

        The total comes from ``count(*) OVER ()`` on the same query; only a page past the
        end needs a second (count) query.
        """
        if not isinstance(page, int) or page < 1:
            raise ValueError(f"page must be an integer >= 1, got {page!r}")
        if not isinstance(per_page, int) or per_page < 1:
            raise ValueError(f"per_page must be an integer >= 1, got {per_page!r}")
        plan = self._plan(load)
        stmt = self._statement(plan, where, None, load, with_deleted, filters)
        stmt = stmt.add_columns(func.count().over().label("sqlops_total"))
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by))
        stmt = stmt.limit(per_page).offset((page - 1) * per_page)
        rows = await self._fetch_rows(stmt, plan)
        if rows:
            total = int(rows[0][1])
        else:  # past the last page: the window function had no row to ride on
            total = await self.count(*where, with_deleted=with_deleted, **filters)
        return Page(items=[row[0] for row in rows], total=total, page=page, per_page=per_page)

    async def cursor_page(
        self,
        *where: ColumnElement[bool],
        after: str | None = None,
        limit: int = 50,
        order_by: Any = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        **filters: Any,
    ) -> CursorPage[M]:
        """Up to ``limit`` rows after cursor ``after`` (keyset pagination).

        Costs the same at any depth. The primary key breaks ties; pass ``next_cursor``
        back as ``after`` for the next page.
        """
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
        keys = self._cursor_keys(order_by)
        tag = _pagination.fingerprint(self.info, keys)
        secret = self._cursor_secret()
        plan = self._plan(load)
        stmt = self._statement(plan, where, None, load, with_deleted, filters)
        if after is not None:
            values = _pagination.decode_cursor(secret, tag, after, self.info, keys)
            stmt = stmt.where(_pagination.keyset_after(keys, values))
        stmt = stmt.order_by(*_pagination.keyset_order(keys)).limit(limit + 1)
        items = await self._fetch(stmt, plan)
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            values = [getattr(last, k.key) for k in keys]
            next_cursor = _pagination.encode_cursor(secret, tag, values)
        return CursorPage(items=items, next_cursor=next_cursor)

    def _cursor_keys(self, order_by: Any) -> builtins.list[_filters.SortKey]:
        keys = _filters.sort_keys(self.info, order_by)
        named = {k.key for k in keys}
        for pk in self.info.pk_keys:
            if pk not in named:
                keys.append(_filters._make_sort_key(self.info, pk, False))
        return keys

    def _cursor_secret(self) -> bytes:
        if self.db is not None:
            return _pagination.cursor_key(self.db.cursor_secret, self.db.url)
        assert self.session is not None
        bind = self.session.sync_session.get_bind(self.info.mapper)
        return _pagination.cursor_key(None, bind.engine.url)

    async def stream(
        self,
        *where: ColumnElement[bool],
        order_by: Any = None,
        batch_size: int = 1000,
        with_deleted: bool = False,
        **filters: Any,
    ) -> AsyncIterator[M]:
        """Yield every matching row, ``batch_size`` at a time, in flat memory.

        Uses a server-side cursor (PostgreSQL, MariaDB). Standalone, it holds one
        read-only transaction open while you iterate; if you stop early, close it:
        ``async with contextlib.aclosing(repo.stream()) as rows: ...``.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        stmt = self.select(*where, with_deleted=with_deleted, **filters)
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by))
        stmt = stmt.execution_options(yield_per=batch_size)
        async with self._reading() as session:
            result = await session.stream_scalars(stmt)
            try:
                # The identity map holds rows weakly: memory stays flat as the caller
                # drops them. (expunge_all() here would break yield_per's loading.)
                async for partition in result.partitions():
                    for obj in partition:
                        yield obj
            finally:
                await result.close()

    # ------------------------------------------------------------------ writes

    def _build(self, obj: M | None, values: dict[str, Any]) -> M:
        if obj is not None:
            if not isinstance(obj, self.model):
                raise TypeError(f"expected a {self.info.name}, got {type(obj).__name__}")
            for key, value in values.items():
                setattr(obj, key, value)
            return obj
        self.info.check_values(values)
        return self.model(**values)

    async def create(self, obj: M | None = None, /, **values: Any) -> M:
        """Insert one row, from an instance or from column values, and return it."""
        self.info.check_values(values)
        instance = self._build(obj, values)
        async with self._writing() as session:
            session.add(instance)
            await session.flush()
            await self._load_unloaded_columns(session, instance)
        return instance

    async def _load_unloaded_columns(self, session: AsyncSession, obj: Any) -> None:
        """Fetch server-generated values the INSERT did not return (backends without RETURNING)."""
        unloaded = inspect(obj).unloaded
        columns = [key for key in self.info.columns if key in unloaded]
        if columns:
            await session.refresh(obj, attribute_names=columns)

    async def create_many(
        self,
        rows: Iterable[Mapping[str, Any] | M],
        *,
        returning: bool = False,
        chunk_size: int | None = None,
        progress: Any = None,
    ) -> Any:
        """Insert many rows, chunk by chunk (COPY on PostgreSQL); the count or the objects.

        ``rows`` may be any iterable, a generator included: it is consumed lazily, one
        chunk at a time, so memory stays flat. ``progress(done)`` gets the running total
        after each chunk. Standalone, all chunks are one transaction: all or nothing.
        """
        async with self._writing() as session:
            return await _bulk.create_many(
                self, session, rows, returning=returning, chunk_size=chunk_size, progress=progress
            )

    async def update(self, pk: Any, /, **values: Any) -> M:
        """Set ``values`` on the row with primary key ``pk`` and return it (partial update)."""
        self.info.check_values(values, "update")
        identity = self._pk_values(pk)
        async with self._writing() as session:
            obj = await session.get(self.model, identity)
            if obj is None or self._is_deleted(obj):
                raise NotFoundError(self.model, pk)
            for key, value in values.items():
                setattr(obj, key, value)
            await session.flush()
            await self._load_unloaded_columns(session, obj)
        return obj

    async def update_where(
        self,
        *where: ColumnElement[bool],
        values: Mapping[str, Any],
        with_deleted: bool = False,
        **filters: Any,
    ) -> int:
        """Set ``values`` on every matching row in one UPDATE; return how many matched."""
        values = dict(values)
        self.info.check_values(values, "update")
        if not values:
            raise InvalidValueError("update_where needs at least one value to set")
        stmt = update(self.model).where(*where, *_filters.build_where(self.info, filters))
        stmt = self._soft(stmt, with_deleted).values(values)
        sync = "auto" if self.session is not None else False
        async with self._writing() as session:
            result = await session.execute(stmt, execution_options={"synchronize_session": sync})
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, pk: Any) -> bool:
        """Delete the row with primary key ``pk`` (ORM cascades apply); False if absent."""
        identity = self._pk_values(pk)
        async with self._writing() as session:
            obj = await session.get(self.model, identity)
            if obj is None:
                return False
            await session.delete(obj)
            await session.flush()
        return True

    async def delete_where(
        self,
        *where: ColumnElement[bool],
        all: bool = False,
        with_deleted: bool = False,
        **filters: Any,
    ) -> int:
        """Delete every matching row in one DELETE; return how many.

        With no condition at all it refuses (``ValueError``) unless ``all=True``: an empty
        filter from a query string must not empty the table. ORM cascades do not run (use
        ``ON DELETE CASCADE`` or :meth:`delete`).
        """
        if not where and not filters and not all:
            raise ValueError(
                f"delete_where() without a condition would delete every {self.info.name}; "
                "pass all=True if that is what you want"
            )
        stmt = delete(self.model).where(*where, *_filters.build_where(self.info, filters))
        stmt = self._soft(stmt, with_deleted)
        sync = "auto" if self.session is not None else False
        async with self._writing() as session:
            result = await session.execute(stmt, execution_options={"synchronize_session": sync})
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookup: Any
    ) -> tuple[M, bool]:
        """The row matching ``lookup``, or a new one from ``lookup`` + ``defaults``; race-safe.

        Returns ``(obj, created)``. Concurrent callers with the same lookup get the same
        row and exactly one gets ``created=True``: the INSERT runs in a savepoint, and a
        unique violation means another caller won, so we read its row. Without a unique
        constraint on the lookup columns, the lookup is serialized with an advisory lock
        (PostgreSQL) or the write lock (SQLite).
        """
        if not lookup:
            raise ValueError("get_or_create needs at least one lookup value")
        self.info.check_values(lookup, "look up")
        values = {**lookup, **(defaults or {})}
        self.info.check_values(values)
        async with self._writing() as session:
            if not _bulk.covers_unique(self.info, lookup):
                await _bulk.lock_lookup(session, self, lookup)
            found = await self._lookup(session, lookup)
            if found is not None:
                return found, False
            try:
                async with session.begin_nested():
                    obj = self.model(**values)
                    session.add(obj)
                    await session.flush()
            except UniqueViolation:
                found = await self._lookup(session, lookup, locking=True)
                if found is None:
                    raise
                return found, False
            await self._load_unloaded_columns(session, obj)
            return obj, True

    async def _lookup(
        self, session: AsyncSession, lookup: dict[str, Any], *, locking: bool = False
    ) -> M | None:
        stmt = self.select(**lookup).limit(1)
        if locking and self.dialect == "mysql":
            # REPEATABLE READ would show our old snapshot; a locking read sees the winner.
            stmt = stmt.with_for_update(read=True)
        return (await session.scalars(stmt)).first()

    async def upsert(
        self,
        values: Mapping[str, Any],
        *,
        conflict: Sequence[Any] | str | None = None,
        update: Sequence[Any] | None = None,
    ) -> M:
        """Insert ``values`` or, on conflict, update the existing row — one statement.

        ``conflict`` defaults to the primary key, ``update`` to every other given column.
        On MariaDB any unique key triggers the update (ON DUPLICATE KEY UPDATE).
        """
        async with self._writing() as session:
            row: M = await _bulk.upsert_one(self, session, dict(values), conflict, update)
        return row

    async def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        conflict: Sequence[Any] | str | None = None,
        update: Sequence[Any] | None = None,
        chunk_size: int | None = None,
    ) -> int:
        """Upsert many rows with multi-row statements; return how many rows were written.

        Rows with the same conflict key within one call collapse to the last one.
        """
        async with self._writing() as session:
            return await _bulk.upsert_many(self, session, rows, conflict, update, chunk_size)

    async def increment(self, pk: Any, column: Any, by: int | float = 1) -> int | float:
        """Atomically add ``by`` to ``column`` of row ``pk``; return the new value."""
        key = column if isinstance(column, str) else getattr(column, "key", None)
        if key not in self.info.columns:
            raise InvalidValueError(f"{self.info.name} has no column {column!r} to increment")
        if isinstance(by, bool) or not isinstance(by, int | float):
            raise InvalidValueError(f"increment by must be a number, got {type(by).__name__}")
        async with self._writing() as session:
            return await _bulk.increment(self, session, self._pk_where(pk), key, by, pk)

    async def soft_delete(self, pk: Any) -> bool:
        """Mark row ``pk`` deleted (``deleted_at = now``); False if absent or already deleted."""
        return await self._set_deleted(pk, deleted=True)

    async def restore(self, pk: Any) -> bool:
        """Undo :meth:`soft_delete`; False if absent or not deleted."""
        return await self._set_deleted(pk, deleted=False)

    async def _set_deleted(self, pk: Any, *, deleted: bool) -> bool:
        column = self.info.soft_delete
        if column is None:
            raise TypeError(
                f"{self.info.name} has no soft-delete column (use the SoftDelete mixin)"
            )
        stmt = update(self.model).where(*self._pk_where(pk))
        stmt = stmt.where(column.is_(None) if deleted else column.is_not(None))
        stmt = stmt.values({column.key: utcnow() if deleted else None})
        sync = "auto" if self.session is not None else False
        async with self._writing() as session:
            result = await session.execute(stmt, execution_options={"synchronize_session": sync})
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _non_negative(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value
