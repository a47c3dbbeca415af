"""The read methods of Repository: lookups, lists, counts, pages and streams."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from . import _expressions, _fastread, _filters, _membership, _pagination, _schemas, _templates
from ._errors import (
    InvalidValueError,
    MultipleFoundError,
    NotFoundError,
)
from ._expressions import Where
from ._pagination import CursorPage, Page
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
        plan = self._plan(load, for_update, schema)
        if plan is not None:
            obj = await self._fast_get(plan, identity)
        else:
            options = [
                *(_filters.load_options(self.info, load) if load else ()),
                *self._schema_options(schema),
            ]

            async def run(session: AsyncSession) -> M | None:
                return await session.get(
                    self.model, identity, options=options, with_for_update=for_update or None
                )

            obj = await self._read(run)
        if obj is not None and not with_deleted and self._is_deleted(obj):
            return None
        return self._out(schema, obj)

    async def _fast_get(self, plan: _fastread.ReadPlan, identity: tuple[Any, ...]) -> M | None:
        assert self.db is not None
        if self.db.driver in _templates.DRIVERS and not self.db._observed():
            query = _templates.Query([])
            positions = [query.add([v], plan.columns[i].type)[0] for i, v in zip(
                plan.pk_positions, identity, strict=True)]  # fmt: skip

            def make(params: builtins.list[Any]) -> Any:
                pk_columns = [plan.columns[i] for i in plan.pk_positions]
                return plan.select().where(
                    *(c == params[p] for c, p in zip(pk_columns, positions, strict=True))
                )

            rows = await self._run_template(("get", self.model), query, plan.types, make)
            if rows is not None:
                return plan.build(rows[0]) if rows else None
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
        plan = self._plan(load, for_update, schema)
        if self._templatable(where, plan, filters):
            assert plan is not None
            found = await self._list_template(
                plan, "first", filters, order_by, 1, None, with_deleted
            )
            if found is not None:
                return found[0] if found else None
        options = self._schema_options(schema)
        stmt = self._statement(plan, where, None, load, with_deleted, filters, options)
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by)).limit(1)
        stmt = stmt.with_for_update() if for_update else stmt
        rows = await self._fetch(stmt, plan)
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
        plan = self._plan(load, for_update, schema)
        rows = None
        if self._templatable(where, plan, filters):
            assert plan is not None
            rows = await self._list_template(plan, "one", filters, None, 2, None, with_deleted)
        if rows is None:
            options = self._schema_options(schema)
            stmt = self._statement(plan, where, None, load, with_deleted, filters, options)
            stmt = stmt.limit(2)
            stmt = stmt.with_for_update() if for_update else stmt
            rows = await self._fetch(stmt, plan)
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
        plan = self._plan(load, for_update, schema)
        if limit is not None:
            _non_negative("limit", limit)
        if offset is not None:
            _non_negative("offset", offset)
        if self._templatable(where, plan, filters):
            assert plan is not None
            found = await self._list_template(
                plan, "list", filters, order_by, limit, offset, with_deleted
            )
            if found is not None:
                return found
        options = self._schema_options(schema)
        stmt = self._statement(plan, where, None, load, with_deleted, filters, options)
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by))
        if limit is not None:
            stmt = stmt.limit(_non_negative("limit", limit))
        if offset is not None:
            stmt = stmt.offset(_non_negative("offset", offset))
        if for_update:
            stmt = stmt.with_for_update()
        return self._out_all(schema, await self._fetch(stmt, plan))

    async def count(self, *where: Where, with_deleted: bool = False, **filters: Any) -> int:
        """How many rows match."""
        if (
            self.db is not None
            and not where
            and _expressions.plain_filters(filters)
            and not self.info.inherits
            and self.db.driver in _templates.DRIVERS
            and not self.db._observed()
        ):
            query = _templates.Query.from_filters(self.info, filters)

            def make(params: builtins.list[Any]) -> Any:
                stmt = select(func.count()).select_from(self.info.table)
                return self._soft(stmt.where(*query.conditions(params)), with_deleted)

            key = ("count", self.model, query.shape, with_deleted)
            rows = await self._run_template(key, query, (_templates.INT,), make)
            if rows is not None:
                return int(rows[0][0])
        # the model, not its table: joined inheritance joins its tables, single-table
        # inheritance adds its discriminator
        source = self.model if self.info.inherits else self.info.table
        stmt = select(func.count()).select_from(source)
        stmt = stmt.where(*self._where(where, filters))
        stmt = self._soft(stmt, with_deleted)
        return int(await self._scalar(stmt))

    async def exists(self, *where: Where, with_deleted: bool = False, **filters: Any) -> bool:
        """Whether any row matches (stops at the first)."""
        stmt = select(*self.info.pk_attrs).where(*self._where(where, filters))
        stmt = self._soft(stmt, with_deleted).limit(1)
        return await self._scalar(stmt) is not None

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
        plan = self._plan(load, schema=schema)
        rows = None
        if self._templatable(where, plan, filters):
            assert plan is not None
            rows = await self._page_template(plan, filters, order_by, page, per_page, with_deleted)
        if rows is None:
            rows = await self._page_statement(
                plan, where, load, with_deleted, filters, order_by, page, per_page, schema
            )
        if rows:
            total = int(rows[0][1])
        else:  # past the last page: the window function had no row to ride on
            total = await self.count(*where, with_deleted=with_deleted, **filters)
        items = self._out_all(schema, [row[0] for row in rows])
        return Page(items=items, total=total, page=page, per_page=per_page)

    async def _page_statement(
        self,
        plan: _fastread.ReadPlan | None,
        where: Sequence[Where],
        load: Sequence[Any] | str,
        with_deleted: bool,
        filters: dict[str, Any],
        order_by: Any,
        page: int,
        per_page: int,
        schema: Any = None,
    ) -> Any:
        options = self._schema_options(schema)
        stmt = self._statement(plan, where, None, load, with_deleted, filters, options)
        stmt = stmt.add_columns(func.count().over().label("sqlops_total"))
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by))
        stmt = stmt.limit(per_page).offset((page - 1) * per_page)
        return await self._fetch_rows(stmt, plan)

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
        plan = self._plan(load, schema=schema)
        values = None
        if after is not None:
            values = _pagination.decode_cursor(secret, tag, after, self.info, keys)
        items = None
        if self._templatable(where, plan, filters):
            assert plan is not None
            items = await self._cursor_template(plan, filters, keys, values, limit, with_deleted)
        if items is None:
            options = self._schema_options(schema, [k.key for k in keys])
            stmt = self._statement(plan, where, None, load, with_deleted, filters, options)
            if values is not None:
                stmt = stmt.where(_pagination.keyset_after(keys, values))
            stmt = stmt.order_by(*_pagination.keyset_order(keys)).limit(limit + 1)
            items = await self._fetch(stmt, plan)
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            values = [getattr(last, k.key) for k in keys]
            next_cursor = _pagination.encode_cursor(secret, tag, values)
        return CursorPage(items=self._out_all(schema, items), next_cursor=next_cursor)

    # ------------------------------------------------------------------ templates

    def _templatable(
        self,
        where: Sequence[Where],
        plan: _fastread.ReadPlan | None,
        filters: dict[str, Any],
    ) -> bool:
        """Standalone, no hand-written criteria, a plain model, a driver we can run on."""
        return (
            plan is not None
            and not where
            and _expressions.plain_filters(filters)
            and self.db is not None
            and self.db.driver in _templates.DRIVERS
            and not self.db._observed()
        )

    async def _run_template(
        self,
        key: Hashable,
        query: _templates.Query,
        result_types: Sequence[Any],
        make: Callable[[builtins.list[Any]], Any],
    ) -> builtins.list[Any] | None:
        """Rows of the compiled shape ``key`` (None: this shape cannot be a template)."""
        assert self.db is not None
        if len(query.args) > _membership.LONG:
            return None  # a long IN list: bound as one array off the template path
        dialect = self.db.engine.sync_engine.dialect
        try:
            found = _templates.template(dialect, key, query.types, result_types, make)
        except _templates.NotTemplatable:
            return None
        try:
            return await self.db._driver_read(
                lambda driver: _templates.fetch(found, dialect, driver, query.args)
            )
        except _templates.Fallback:
            return None

    def _filtered(
        self,
        plan: _fastread.ReadPlan,
        query: _templates.Query,
        params: Sequence[Any],
        with_deleted: bool,
        *extra: Any,
    ) -> Any:
        stmt = plan.select().add_columns(*extra) if extra else plan.select()
        return self._soft(stmt.where(*query.conditions(params)), with_deleted)

    async def _list_template(
        self,
        plan: _fastread.ReadPlan,
        kind: str,
        filters: dict[str, Any],
        order_by: Any,
        limit: int | None,
        offset: int | None,
        with_deleted: bool,
    ) -> builtins.list[M] | None:
        query = _templates.Query.from_filters(self.info, filters)
        lim = query.add([limit], _templates.INT)[0] if limit is not None else None
        off = query.add([offset], _templates.INT)[0] if offset is not None else None

        def make(params: builtins.list[Any]) -> Any:
            order = _filters.order_clauses(self.info, order_by)
            stmt = self._filtered(plan, query, params, with_deleted).order_by(*order)
            stmt = stmt.limit(params[lim]) if lim is not None else stmt
            return stmt.offset(params[off]) if off is not None else stmt

        order_key = _order_key(self.info, order_by)
        key = (kind, self.model, query.shape, order_key, with_deleted, lim is None, off is None)
        rows = await self._run_template(key, query, plan.types, make)
        return None if rows is None else plan.build_all(rows)

    async def _page_template(
        self,
        plan: _fastread.ReadPlan,
        filters: dict[str, Any],
        order_by: Any,
        page: int,
        per_page: int,
        with_deleted: bool,
    ) -> builtins.list[Any] | None:
        query = _templates.Query.from_filters(self.info, filters)
        lim, off = query.add([per_page, (page - 1) * per_page], _templates.INT)

        def make(params: builtins.list[Any]) -> Any:
            order = _filters.order_clauses(self.info, order_by)
            total = func.count().over().label("sqlops_total")
            stmt = self._filtered(plan, query, params, with_deleted, total).order_by(*order)
            return stmt.limit(params[lim]).offset(params[off])

        key = ("page", self.model, query.shape, _order_key(self.info, order_by), with_deleted)
        rows = await self._run_template(key, query, (*plan.types, _templates.INT), make)
        if rows is None:
            return None
        width = len(plan.keys)
        return [(plan.build(row), row[width]) for row in rows]

    async def _cursor_template(
        self,
        plan: _fastread.ReadPlan,
        filters: dict[str, Any],
        keys: Sequence[_filters.SortKey],
        values: Sequence[Any] | None,
        limit: int,
        with_deleted: bool,
    ) -> builtins.list[M] | None:
        query = _templates.Query.from_filters(self.info, filters)
        positions: builtins.list[int | None] = []
        for k, v in zip(keys, values or (), strict=False):
            positions.append(None if v is None else query.add([v], k.attr.type)[0])
        lim = query.add([limit + 1], _templates.INT)[0]

        def make(params: builtins.list[Any]) -> Any:
            stmt = self._filtered(plan, query, params, with_deleted)
            if values is not None:
                bound = [None if p is None else params[p] for p in positions]
                stmt = stmt.where(_pagination.keyset_after(keys, bound))
            return stmt.order_by(*_pagination.keyset_order(keys)).limit(params[lim])

        spec = tuple((k.key, k.descending) for k in keys)
        nulls = None if values is None else tuple(v is None for v in values)
        key = ("cursor", self.model, query.shape, spec, nulls, with_deleted)
        rows = await self._run_template(key, query, plan.types, make)
        return None if rows is None else plan.build_all(rows)

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

        Uses a server-side cursor (PostgreSQL, MariaDB). Standalone, it holds one
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
        stmt = self.select(*where, with_deleted=with_deleted, **filters)
        stmt = stmt.options(*self._schema_options(schema))
        stmt = stmt.order_by(*_filters.order_clauses(self.info, order_by))
        stmt = stmt.execution_options(yield_per=batch_size)
        async with self._reading() as session:
            result = await session.stream_scalars(stmt)
            try:
                # The identity map holds rows weakly: memory stays flat as the caller
                # drops them. (expunge_all() here would break yield_per's loading.)
                async for partition in result.partitions():
                    for obj in partition:
                        yield obj if schema is None else self._out(schema, obj)
            finally:
                await result.close()


def _order_key(info: Any, order_by: Any) -> tuple[tuple[str, bool], ...]:
    """A hashable spelling of ``order_by`` (validated: it may come from a query string)."""
    return tuple((k.key, k.descending) for k in _filters.sort_keys(info, order_by))
