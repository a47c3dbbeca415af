"""The read methods of Repository: lookups, lists, counts, pages and streams.

Each method checks its arguments, describes its query as a :class:`ReadQuery` and
leaves the route (driver template, Core connection, ORM session) to
:mod:`sqlops._executor`.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from . import _executor, _filters, _pagination, _schemas
from ._errors import InvalidValueError, MultipleFoundError, NotFoundError
from ._expressions import Where
from ._pagination import CursorPage, Page
from ._query import ReadQuery
from ._repobase import MAX_ROW_COUNT, RepositoryBase, _bounded, _non_negative

M = TypeVar("M")


class Reads(RepositoryBase[M]):
    """get, get_one, first, one, list, count, exists, page, cursor_page, stream."""

    async def get(
        self,
        pk: Any,
        *,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        schema: Any = None,
    ) -> Any:
        """The row with primary key ``pk`` (scalar, tuple or mapping), or None.

        ``for_update=True`` locks the row (``SELECT … FOR UPDATE``) until the injected
        session's transaction ends. ``schema=Out`` returns an ``Out`` (Pydantic model or
        dataclass) built from only the columns and relationships it names.
        """
        identity = self._pk_values(pk)
        self._check_lock(for_update)
        q = ReadQuery("get", identity=identity, load=load, for_update=for_update, schema=schema)
        obj = await _executor.get(self, q)
        if obj is not None and not with_deleted and self._is_deleted(obj):
            return None
        return self._out(schema, obj)

    async def get_one(
        self,
        pk: Any,
        *,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        schema: Any = None,
    ) -> Any:
        """Like :meth:`get`, but raise :class:`NotFoundError` when there is no such row."""
        obj = await self.get(
            pk, load=load, with_deleted=with_deleted, for_update=for_update, schema=schema
        )
        if obj is None:
            raise NotFoundError(self.model, pk)
        return obj

    async def first(
        self,
        *where: Where,
        order_by: Any = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        schema: Any = None,
        **filters: Any,
    ) -> Any:
        """The first matching row in ``order_by`` order (primary key by default), or None."""
        self._check_lock(for_update)
        q = ReadQuery("first", where, filters, order_by, 1, None, load, with_deleted,
                      for_update, schema)  # fmt: skip
        rows = await _executor.fetch(self, q)
        return self._out(schema, rows[0]) if rows else None

    async def one(
        self,
        *where: Where,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        schema: Any = None,
        **filters: Any,
    ) -> Any:
        """The only matching row: NotFoundError if none, MultipleFoundError if several."""
        self._check_lock(for_update)
        q = ReadQuery("one", where, filters, None, 2, None, load, with_deleted, for_update, schema)
        rows = await _executor.fetch(self, q)
        if not rows:
            raise NotFoundError(self.model, filters or None, f"no {self.info.name} matches")
        if len(rows) > 1:
            raise MultipleFoundError(f"more than one {self.info.name} matches")
        return self._out(schema, rows[0])

    async def list(
        self,
        *where: Where,
        order_by: Any = None,
        limit: int | None = None,
        offset: int | None = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        for_update: bool = False,
        schema: Any = None,
        **filters: Any,
    ) -> builtins.list[Any]:
        """Every matching row, in ``order_by`` order (primary key by default)."""
        self._check_lock(for_update)
        if limit is not None:
            _non_negative("limit", limit)
        if offset is not None:
            _non_negative("offset", offset)
        q = ReadQuery("list", where, filters, order_by, limit, offset, load, with_deleted,
                      for_update, schema)  # fmt: skip
        return self._out_all(schema, await _executor.fetch(self, q))

    async def count(self, *where: Where, with_deleted: bool = False, **filters: Any) -> int:
        """How many rows match."""
        q = ReadQuery("count", where, filters, with_deleted=with_deleted)
        return int(await _executor.scalar(self, q))

    async def exists(self, *where: Where, with_deleted: bool = False, **filters: Any) -> bool:
        """Whether any row matches (stops at the first)."""
        q = ReadQuery("exists", where, filters, with_deleted=with_deleted)
        return await _executor.scalar(self, q) is not None

    async def page(
        self,
        *where: Where,
        page: int = 1,
        per_page: int = 20,
        order_by: Any = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        schema: Any = None,
        **filters: Any,
    ) -> Page[Any]:
        """Page ``page`` of ``per_page`` rows with the total, in one statement.

        The total comes from ``count(*) OVER ()`` on the same query; only a page past the
        end needs a second (count) query.
        """
        if not isinstance(page, int) or page < 1:
            raise ValueError(f"page must be an integer >= 1, got {page!r}")
        if not isinstance(per_page, int) or per_page < 1:
            raise ValueError(f"per_page must be an integer >= 1, got {per_page!r}")
        _bounded("per_page", per_page)
        if (page - 1) * per_page > MAX_ROW_COUNT:
            raise InvalidValueError(
                f"page is too large: page {page} of {per_page} rows would skip more than "
                f"{MAX_ROW_COUNT} (2**63 - 1) rows"
            )
        offset = (page - 1) * per_page
        q = ReadQuery("page", where, filters, order_by, per_page, offset, load, with_deleted,
                      schema=schema)  # fmt: skip
        rows = await _executor.fetch(self, q)
        if rows:
            total = int(rows[0][1])
        else:  # past the last page: the window function had no row to ride on
            total = await self.count(*where, with_deleted=with_deleted, **filters)
        items = self._out_all(schema, [row[0] for row in rows])
        return Page(items=items, total=total, page=page, per_page=per_page)

    async def cursor_page(
        self,
        *where: Where,
        after: str | None = None,
        limit: int = 50,
        order_by: Any = None,
        load: Sequence[Any] | str = (),
        with_deleted: bool = False,
        schema: Any = None,
        **filters: Any,
    ) -> CursorPage[Any]:
        """Up to ``limit`` rows after cursor ``after`` (keyset pagination).

        Costs the same at any depth. The primary key breaks ties; pass ``next_cursor``
        back as ``after`` for the next page.
        """
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
        _bounded("limit", limit + 1)  # one row more is fetched: is there a next page?
        keys = self._cursor_keys(order_by)
        tag = _pagination.fingerprint(self.info, keys)
        secret = self._cursor_secret()
        values = None
        if after is not None:
            values = _pagination.decode_cursor(secret, tag, after, self.info, keys)
        q = ReadQuery("cursor", where, filters, None, limit + 1, None, load, with_deleted,
                      schema=schema, keys=keys, after=values)  # fmt: skip
        items = await _executor.fetch(self, q)
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            values = [getattr(last, k.key) for k in keys]
            next_cursor = _pagination.encode_cursor(secret, tag, values)
        return CursorPage(items=self._out_all(schema, items), next_cursor=next_cursor)

    def _cursor_keys(self, order_by: Any) -> builtins.list[_filters.SortKey]:
        keys = _filters.sort_keys(self.info, order_by)
        named = {k.key for k in keys}
        for pk in self.info.pk_keys:
            if pk not in named:
                keys.append(_filters._make_sort_key(self.info, pk, False))
        return keys

    def _cursor_secret(self) -> bytes:
        if self.db is not None:
            return _pagination.cursor_key(self.db.cursor_secret)
        assert self.session is not None  # a sqlops session knows its Database's secret
        return _pagination.cursor_key(self.session.info.get(_pagination.SECRET_INFO_KEY))

    async def stream(
        self,
        *where: Where,
        order_by: Any = None,
        batch_size: int = 1000,
        with_deleted: bool = False,
        schema: Any = None,
        **filters: Any,
    ) -> AsyncIterator[Any]:
        """Yield every matching row, ``batch_size`` at a time, in flat memory.

        Uses a server-side cursor (PostgreSQL, MariaDB; SQLite reads its cursor
        ``batch_size`` rows at a time). Standalone, it holds one
        read-only transaction open while you iterate; if you stop early, close it:
        ``async with contextlib.aclosing(repo.stream()) as rows: ...``.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if _schemas.pages_instead(self, schema):
            pages = _schemas.stream_pages(
                self, where, order_by, batch_size, with_deleted, schema, filters
            )
            async for item in pages:
                yield item
            return
        q = ReadQuery("list", where, filters, order_by, with_deleted=with_deleted, schema=schema)
        # aclosing: a caller's break ends the transaction now, not when the GC runs
        async with contextlib.aclosing(_executor.stream(self, q, batch_size)) as batches:
            async for objs in batches:
                if schema is not None:
                    objs = [self._out(schema, obj) for obj in objs]
                for obj in objs:
                    yield obj
