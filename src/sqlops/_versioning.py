"""Optimistic locking: version-checked updates and :class:`StaleVersionError`.

A model is versioned when its mapper has a ``version_id_col`` — the
:class:`sqlops.models.Versioned` mixin, or a hand-written ``__mapper_args__`` (the only way
on ``MappedAsDataclass``). Two places raise :class:`StaleVersionError`:

* ``Repository.update(pk, expected_version=n)``: one ``UPDATE … WHERE pk AND version = n``
  that bumps the version; no row matched means someone else won (or the row is gone:
  ``NotFoundError``), told apart by reading the version back.
* any flush of a stale object: SQLAlchemy's ``StaleDataError``, translated where sqlops'
  sessions flush (:meth:`sqlops._session.SqlopsSession.flush`) and around repository calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, inspect, select, update
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.exc import StaleDataError

from ._errors import NotFoundError, StaleVersionError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from ._modelinfo import ModelInfo
    from ._repobase import RepositoryBase

_TABLE = re.compile(r"on table '([^']+)'")
Pending = list[tuple[Mapper[Any], Any, Any]]  # (mapper, identity, version) of each


def version_key(mapper: Mapper[Any]) -> str | None:
    """The attribute holding ``mapper``'s version, or None when it is not versioned."""
    column = mapper.version_id_col
    if column is None:
        return None
    return mapper.get_property_by_column(column).key


def version_of(obj: Any) -> Any:
    """The version of a loaded instance of a versioned model (``TypeError`` otherwise)."""
    mapper = inspect(type(obj), raiseerr=False)
    key = version_key(mapper) if mapper is not None else None
    if key is None:
        raise TypeError(f"{type(obj).__name__} is not versioned (use sqlops.models.Versioned)")
    return getattr(obj, key)


def single_statement(info: ModelInfo) -> bool:
    """Whether an update can be the one version-checked UPDATE (one table, integer counter)."""
    mapper, column = info.mapper, info.mapper.version_id_col
    return (
        column is not None
        and len(mapper.tables) == 1
        and isinstance(column.type, Integer)
        and callable(mapper.version_id_generator)
    )


async def update_row(
    repo: RepositoryBase[Any],
    session: AsyncSession,
    pk: Any,
    values: dict[str, Any],
    expected: Any,
) -> Any:
    """``UPDATE … SET values, version = next WHERE pk [AND version = expected]``; the row."""
    info, mapper = repo.info, repo.info.mapper
    key = version_key(mapper)
    assert key is not None
    column = info.columns[key]
    stmt = repo._soft(update(info.model).where(*repo._pk_where(pk)), False)
    if expected is None:
        values = {**values, key: column + 1}
    else:
        stmt = stmt.where(column == expected)
        generator = mapper.version_id_generator
        assert callable(generator)  # single_statement() checked it
        values = {**values, key: generator(expected)}
    options = {"synchronize_session": False}
    result = await session.execute(stmt.values(values), execution_options=options)
    if not result.rowcount:  # type: ignore[attr-defined]
        actual = await _read_version(repo, session, pk, column)
        if actual is None:
            raise NotFoundError(info.model, pk)
        raise StaleVersionError(model=info.model, key=pk, expected=expected, actual=actual)
    obj = await session.get(info.model, repo._pk_values(pk), populate_existing=True)
    assert obj is not None
    return obj


async def _read_version(
    repo: RepositoryBase[Any], session: AsyncSession, pk: Any, column: Any
) -> Any:
    """The row's version now (None if it is gone); what the UPDATE that missed it saw."""
    stmt = repo._soft(select(column).where(*repo._pk_where(pk)), False)
    if repo.dialect == "mysql":
        # REPEATABLE READ would show our snapshot; a locking read sees the winner's write,
        # as the UPDATE did.
        stmt = stmt.with_for_update(read=True)
    return await session.scalar(stmt)


def check_loaded(info: ModelInfo, obj: Any, pk: Any, expected: Any) -> None:
    """Refuse ``obj`` (just read) if it is not at ``expected`` (the multi-table path)."""
    key = version_key(info.mapper)
    if expected is None or key is None:
        return
    actual = getattr(obj, key)
    if actual != expected:
        raise StaleVersionError(model=info.model, key=pk, expected=expected, actual=actual)


# ----------------------------------------------------------------------------- flushes


def pending(session: Session) -> Pending:
    """The versioned objects a flush is about to write: (mapper, identity, version)."""
    found: Pending = []
    for obj in _chain(session.dirty, session.deleted):
        state = inspect(obj)
        mapper = state.mapper
        if mapper.version_id_col is not None and state.key is not None:
            key = version_key(mapper)
            found.append((mapper, state.key[1], state.dict.get(key) if key else None))
    return found


def _chain(*groups: Iterable[Any]) -> Iterable[Any]:
    for group in groups:
        yield from group


def stale_error(
    exc: StaleDataError,
    candidates: Sequence[tuple[Mapper[Any], Any, Any]] = (),
    model: type[Any] | None = None,
) -> StaleVersionError:
    """The :class:`StaleVersionError` for a flush that matched no row of a stale object.

    SQLAlchemy says only which table; the object is known when one pending versioned
    object of that table was written (else ``.key`` is None).
    """
    found = _TABLE.search(str(exc))
    table = found[1] if found else None
    matches = [c for c in candidates if table is None or _table_name(c[0]) == table]
    if len(matches) == 1:
        mapper, identity, version = matches[0]
        key = identity[0] if len(identity) == 1 else identity
        return StaleVersionError(model=mapper.class_, key=key, expected=version)
    if matches:
        model = matches[0][0].class_
    what = model.__name__ if model is not None else f"a row of {table or 'a table'}"
    return StaleVersionError(
        f"{what} was changed or deleted by someone else since it was read; read it again and retry",
        model=model,
    )


def _table_name(mapper: Mapper[Any]) -> str:
    return str(getattr(mapper.local_table, "name", ""))
