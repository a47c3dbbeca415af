"""The write methods of Repository: create, update, delete, upsert, counters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from . import (
    _bulk,
    _bulk_update,
    _expressions,
    _fastwrite,
    _increments,
    _joined,
    _schemas,
    _translate,
    _upsert,
    _versioning,
)
from ._errors import (
    InvalidValueError,
    NotFoundError,
    UniqueViolation,
)
from ._expressions import Where
from ._repobase import RepositoryBase
from .models import utcnow

M = TypeVar("M")
# Racing callers of one MariaDB lookup deadlock; each round one of them wins, and the
# others find its row on their next attempt.
_MYSQL_LOOKUP_RETRIES = 10


class Writes(RepositoryBase[M]):
    """create, create_many, update(_where), delete(_where), get_or_create, upsert,
    increment, soft_delete, restore."""

    def _build(self, obj: M | None, values: dict[str, Any]) -> M:
        if obj is not None:
            if not isinstance(obj, self.model):
                raise TypeError(f"expected a {self.info.name}, got {type(obj).__name__}")
            for key, value in values.items():
                setattr(obj, key, value)
            return obj
        return self.model(**values)

    async def create(self, obj: Any = None, /, **values: Any) -> M:
        """Insert one row, from an instance, a schema (Pydantic, dataclass, mapping) or
        column values, and return it."""
        if obj is not None and not isinstance(obj, self.model) and _schemas.is_schema(obj):
            obj, values = None, {**_schemas.values_of(obj), **values}
        values = self.info.check_values(values)
        _bulk.refuse_column_references(self.info, (values,))
        instance = self._build(obj, values)
        if obj is not None:  # the instance's own values were never checked
            state = attributes.instance_dict(instance)
            given = {k: state[k] for k in self.info.columns if k in state}
            for key, value in self.info.check_types(given).items():
                if value is not given[key]:
                    setattr(instance, key, value)
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

    async def update(
        self, pk: Any, schema: Any = None, /, *, expected_version: Any = None, **values: Any
    ) -> M:
        """Set ``values`` on the row with primary key ``pk`` and return it (partial update).

        ``schema`` (a Pydantic model: its set fields; a dataclass; a mapping) gives values
        too. On a versioned model the version is bumped, and with ``expected_version`` the
        row is written only if it is still at that version (else ``StaleVersionError``).
        """
        if schema is not None:
            values = {**_schemas.values_of(schema, partial=True), **values}
        values = self.info.check_values(values, "update")
        if expected_version is not None and self.info.mapper.version_id_col is None:
            raise TypeError(f"expected_version: {self.info.name} has no version column")
        if (values or expected_version is not None) and _versioning.single_statement(self.info):
            async with self._writing() as session:
                row = await _versioning.update_row(self, session, pk, values, expected_version)
                await self._load_unloaded_columns(session, row)
            return row  # type: ignore[no-any-return]
        async with self._writing() as session:
            obj = await _fastwrite.update(self, session, pk, values)
            if obj is _fastwrite.NOT_FAST:
                obj = await self._update_orm(session, pk, values, expected_version)
            await self._load_unloaded_columns(session, obj)
        return obj  # type: ignore[no-any-return]

    async def _update_orm(
        self, session: AsyncSession, pk: Any, values: dict[str, Any], expected_version: Any
    ) -> M:
        """``session.get()``, set the values, flush: the unit of work writes the changes."""
        obj = await session.get(self.model, self._pk_values(pk))
        if obj is None or self._is_deleted(obj):
            raise NotFoundError(self.model, pk)
        _versioning.check_loaded(self.info, obj, pk, expected_version)
        for key, value in values.items():
            setattr(obj, key, value)
        await session.flush()
        return obj

    async def update_where(
        self,
        *where: Where,
        values: Mapping[str, Any],
        with_deleted: bool = False,
        **filters: Any,
    ) -> int:
        """Set ``values`` on every matching row in one UPDATE; return how many matched."""
        values = self.info.check_values(values, "update")
        if not values:
            raise InvalidValueError("update_where needs at least one value to set")
        if self.info.multi_table:
            conditions = self._conditions(where, with_deleted, filters)
            async with self._writing() as session:
                return await _joined.update_where(self, session, conditions, values)
        stmt = update(self.model).where(*self._where(where, filters))
        stmt = self._soft(stmt, with_deleted).values(values)
        sync = "auto" if self.session is not None else False
        async with self._writing() as session:
            options = {"synchronize_session": sync}
            with _translate.naming_inline(stmt, session.sync_session.get_bind):
                result = await session.execute(stmt, execution_options=options)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def update_many(
        self,
        rows: Iterable[Mapping[str, Any] | M],
        *,
        key: Sequence[Any] | str | None = None,
        chunk_size: int | None = None,
        with_deleted: bool = False,
    ) -> int:
        """Set different values on many rows, one UPDATE per chunk; return rows matched.

        Each row holds the key (the primary key, or the ``key`` columns) and the columns
        to set. A row whose key matches nothing is counted out, not an error; rows may set
        different columns (one statement per chunk and column set). Standalone, all
        chunks are one transaction.
        """
        async with self._writing() as session:
            return await _bulk_update.update_many(
                self, session, rows, key, chunk_size, with_deleted
            )

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
        *where: Where,
        all: bool = False,
        with_deleted: bool = False,
        **filters: Any,
    ) -> int:
        """Delete every matching row in one DELETE; return how many.

        With no condition at all it refuses (``ValueError``) unless ``all=True``: an empty
        filter from a query string must not empty the table. ORM cascades do not run (use
        ``ON DELETE CASCADE`` or :meth:`delete`).
        """
        if not all and not _expressions.has_condition(where, filters):
            raise ValueError(
                f"delete_where() without a condition would delete every {self.info.name}; "
                "pass all=True if that is what you want"
            )
        if self.info.multi_table:
            conditions = self._conditions(where, with_deleted, filters)
            async with self._writing() as session:
                return await _joined.delete_where(self, session, conditions)
        stmt = delete(self.model).where(*self._where(where, filters))
        stmt = self._soft(stmt, with_deleted)
        sync = "auto" if self.session is not None else False
        async with self._writing() as session:
            options = {"synchronize_session": sync}
            with _translate.naming_inline(stmt, session.sync_session.get_bind):
                result = await session.execute(stmt, execution_options=options)
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _conditions(
        self, where: Sequence[Where], with_deleted: bool, filters: dict[str, Any]
    ) -> list[ColumnElement[bool]]:
        conditions = self._where(where, filters)
        if self.info.soft_delete is not None and not with_deleted:
            conditions.append(self.info.soft_delete.is_(None))
        return conditions

    async def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookup: Any
    ) -> tuple[M, bool]:
        """The row matching ``lookup``, or a new one from ``lookup`` + ``defaults``; race-safe.

        Returns ``(obj, created)``. Concurrent callers with the same lookup get the same
        row and exactly one gets ``created=True``: the INSERT runs in a savepoint, and a
        unique violation means another caller won, so we read its row. Without a unique
        constraint on the lookup columns, the lookup is serialized with an advisory lock
        (PostgreSQL), the write lock (SQLite) or a locking read (MariaDB: its gap locks
        make racing inserts deadlock, and a standalone call retries; an injected one
        raises ``TransactionConflictError`` for ``db.run()`` to retry).
        """
        if not lookup:
            raise ValueError("get_or_create needs at least one lookup value")
        lookup = self.info.check_values(lookup, "look up")
        values = self.info.check_values({**lookup, **(defaults or {})})
        unique = _bulk.covers_unique(self.info, lookup)
        if not unique and self.session is None and self.dialect == "mysql":
            assert self.db is not None
            return await self.db.run(
                self._get_or_create_in, lookup, values, unique, retries=_MYSQL_LOOKUP_RETRIES
            )
        async with self._writing() as session:
            return await self._get_or_create_in(session, lookup, values, unique)

    async def _get_or_create_in(
        self, session: AsyncSession, lookup: dict[str, Any], values: dict[str, Any], unique: bool
    ) -> tuple[M, bool]:
        if not unique:
            await _bulk.lock_lookup(session, self, lookup)
        found = await self._lookup(session, lookup, locking=not unique)
        if found is not None:
            return found, False
        obj = self.model(**values)
        if not unique and self.dialect == "mysql":
            # No savepoint: the deadlock a racing insert meets has already rolled the
            # whole transaction back on MariaDB, so there would be none to return to.
            session.add(obj)
            await session.flush()
        else:
            try:
                async with session.begin_nested():
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
            # REPEATABLE READ would show our old snapshot; a locking read sees the winner
            # (and, before an insert, takes the gap lock that makes a racing insert wait).
            stmt = stmt.with_for_update(read=True)
        return (await session.scalars(stmt)).first()

    async def upsert(
        self,
        values: Any,
        *,
        conflict: Sequence[Any] | str | None = None,
        update: Sequence[Any] | None = None,
    ) -> M:
        """Insert ``values`` or, on conflict, update the existing row — one statement.

        ``conflict`` defaults to the primary key, ``update`` to every other given column.
        On MariaDB any unique key triggers the update (ON DUPLICATE KEY UPDATE).
        ``values`` may be a mapping, a Pydantic model or a dataclass instance.
        """
        values = _schemas.values_of(values)
        async with self._writing() as session:
            row: M = await _upsert.upsert_one(self, session, values, conflict, update)
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
            return await _upsert.upsert_many(self, session, rows, conflict, update, chunk_size)

    async def increment(self, pk: Any, column: Any, by: int | float = 1) -> int | float:
        """Atomically add ``by`` to ``column`` of row ``pk``; return the new value.

        A NULL counter counts from 0. ``by`` must fit the column: a fraction for an
        integer column, NaN or infinity, or a non-number column is an
        :class:`InvalidValueError` and nothing changes.
        """
        key = column if isinstance(column, str) else getattr(column, "key", None)
        if key not in self.info.columns:
            raise InvalidValueError(f"{self.info.name} has no column {column!r} to increment")
        by = _increments.step(self.info.table.name, key, self.info.columns[key], by)
        async with self._writing() as session:
            return await _upsert.increment(self, session, self._pk_where(pk), key, by, pk)

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
            options = {"synchronize_session": sync}
            with _translate.naming_inline(stmt, session.sync_session.get_bind):
                result = await session.execute(stmt, execution_options=options)
        return bool(result.rowcount)  # type: ignore[attr-defined]
