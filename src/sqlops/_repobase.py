"""What every repository method stands on: the two modes, statements, fast reads."""

from __future__ import annotations

import builtins
import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.orm.exc import StaleDataError

from . import _expressions, _fastread, _filters, _schemas, _versioning
from ._database import Database
from ._errors import (
    InvalidFilterError,
    InvalidValueError,
)
from ._expressions import Where
from ._modelinfo import ModelInfo, model_info
from ._telemetry import INFO_KEY as TELEMETRY_KEY
from ._url import dialect_family
from .models import SoftDelete

M = TypeVar("M")
T = TypeVar("T")


class RepositoryBase(Generic[M]):
    """Construction, the standalone / injected modes, and statement building."""

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
        telemetry = bind._telemetry if isinstance(bind, Database) else bind.info.get(TELEMETRY_KEY)
        if telemetry is not None:  # OpenTelemetry on: this repository reports its calls
            telemetry.instrument_repository(self)

    def __repr__(self) -> str:
        mode = "standalone" if self.db is not None else "injected"
        return f"Repository({self.info.name}, {mode})"

    def _on(self, session: AsyncSession) -> RepositoryBase[M]:
        """This repository injected into ``session``, unreported (a write's inner steps).

        A standalone write runs its statements in the session of its own transaction.
        """
        if self.session is session:
            return self
        view = copy.copy(self)
        view.db, view.session = None, session
        return view

    # ------------------------------------------------------------------ sessions

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        try:
            if self.session is not None:
                yield self.session
            else:
                assert self.db is not None
                async with self.db.transaction() as session:
                    yield session
        except StaleDataError as exc:  # a session of your own (sqlops' own say it already)
            raise _versioning.stale_error(exc, model=self.model) from exc

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
        *where: Where,
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
        where: Sequence[Where],
        order_by: Any,
        load: Sequence[Any] | str,
        with_deleted: bool,
        filters: dict[str, Any],
        options: Sequence[Any] = (),
    ) -> Select[Any]:
        """The read SELECT: of the model (ORM) or, with a fast plan, of its columns (Core)."""
        stmt: Select[Any] = select(self.model) if plan is None else plan.select()
        stmt = stmt.where(*self._where(where, filters))
        stmt = self._soft(stmt, with_deleted)
        if load or options:
            stmt = stmt.options(*_filters.load_options(self.info, load), *options)
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

    def _where(
        self, where: Sequence[Any], filters: Mapping[str, Any]
    ) -> builtins.list[ColumnElement[bool]]:
        """``*where`` (``Q`` and ``Search`` resolved) and ``**filters`` as SQL conditions."""
        if _expressions.plain(where, filters):  # the common case: no dialect lookup needed
            return [*where, *_filters.build_where(self.info, filters)]
        return _expressions.where_clauses(self.info, self.dialect, where, filters)

    def _check_lock(self, for_update: bool) -> None:
        if for_update and self.db is not None:
            raise ValueError(
                "for_update=True needs an injected session: in standalone mode the lock "
                "would end with the call's own transaction. Use Repository(Model, session)."
            )

    # ------------------------------------------------------------------ schema=

    def _schema_options(self, schema: Any, extra: Sequence[str] = ()) -> builtins.list[Any]:
        """Loader options for ``schema=``: only its columns, its nested relationships.

        Standalone, the instances are thrown away once converted, so ``load_only`` is
        safe; an injected session keeps them in its identity map, where a partly loaded
        object would raise on its next use, so there whole rows are loaded.
        """
        if schema is None:
            return []
        plan = _schemas.plan_for(self.model, schema)
        return plan.options(restrict=self.db is not None, extra=extra)

    def _out(self, schema: Any, obj: Any) -> Any:
        """``obj`` as ``schema`` (unchanged without one)."""
        if schema is None or obj is None:
            return obj
        return _schemas.plan_for(self.model, schema).convert(obj)

    def _out_all(self, schema: Any, objs: builtins.list[Any]) -> builtins.list[Any]:
        if schema is None:
            return objs
        plan = _schemas.plan_for(self.model, schema)
        return [plan.convert(obj) for obj in objs]

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

    def _is_deleted(self, obj: Any) -> bool:
        column = self.info.soft_delete
        return column is not None and getattr(obj, column.key) is not None


MAX_ROW_COUNT = 2**63 - 1  # the largest LIMIT / OFFSET every backend accepts (BIGINT)


def _non_negative(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return _bounded(name, value)


def _bounded(name: str, value: int) -> int:
    """``value``, if the databases can take it as a row count (else InvalidValueError)."""
    if value > MAX_ROW_COUNT:
        raise InvalidValueError(f"{name} is too large: at most {MAX_ROW_COUNT} (2**63 - 1)")
    return value
