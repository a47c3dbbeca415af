"""sync.Repository: every method of :class:`sqlops.Repository`, blocking.

Nothing here re-implements a method. The class is generated from the async
``Repository`` when this module is imported: each public coroutine method becomes a
method that drives it to completion (:func:`sqlops._runtime.drive`), the async
generator ``stream`` becomes an iterator, plain methods (``select``) are passed through.
A method added to the async Repository is therefore in the sync one too. Its static
types come from :mod:`sqlops.sync._typed`, generated from the async signatures by
:mod:`sqlops.sync._typegen` (a test fails when that file is stale).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from sqlops._repository import Repository as AsyncRepository
from sqlops._runtime import drive, drive_iter

from ._adapters import SessionAdapter
from ._database import Database
from ._typed import TypedRepository

M = TypeVar("M")


class Repository(TypedRepository[M]):
    """Data access for ``model``, bound to a :class:`sqlops.sync.Database` or a ``Session``.

    * ``Repository(User, db)`` — standalone: every call is its own transaction, committed.
    * ``Repository(User, session)`` — injected: calls only flush; the caller commits.
    """

    __slots__ = ("_async",)

    def __init__(self, model: type[M], bind: Database | Session) -> None:
        core: Any = bind._core if isinstance(bind, Database) else None
        if isinstance(bind, Session):
            core = SessionAdapter(bind)
        if core is None:
            raise TypeError(_bad_bind(model, bind))
        self._async: AsyncRepository[M] = AsyncRepository(model, core)

    @property
    def model(self) -> type[M]:
        return self._async.model

    @property
    def info(self) -> Any:
        return self._async.info

    @property
    def dialect(self) -> str:
        """The backend family: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``."""
        return self._async.dialect

    def __repr__(self) -> str:
        mode = "standalone" if self._async.db is not None else "injected"
        return f"sync.Repository({self._async.info.name}, {mode})"


def _bad_bind(model: type[Any], bind: object) -> str:
    hint = " (for an AsyncSession use sqlops.Repository)" if isinstance(bind, AsyncSession) else ""
    return (
        f"sync.Repository({model.__name__}, …) needs a sqlops.sync.Database or a "
        f"Session, not {type(bind).__name__}{hint}"
    )


def _blocking(method: Callable[..., Any]) -> Callable[..., Any]:
    """The sync face of one async Repository method."""
    if inspect.iscoroutinefunction(method):

        def call(self: Repository[Any], *args: Any, **kwargs: Any) -> Any:
            return drive(method(self._async, *args, **kwargs))

    elif inspect.isasyncgenfunction(method):

        def call(self: Repository[Any], *args: Any, **kwargs: Any) -> Any:
            return drive_iter(method(self._async, *args, **kwargs))

    else:

        def call(self: Repository[Any], *args: Any, **kwargs: Any) -> Any:
            return method(self._async, *args, **kwargs)

    functools.update_wrapper(call, method)
    return call


def public_methods() -> dict[str, Callable[..., Any]]:
    """Every public method of the async Repository, by name."""
    found: dict[str, Callable[..., Any]] = {}
    for cls in reversed(AsyncRepository.__mro__):
        for name, value in vars(cls).items():
            if not name.startswith("_") and inspect.isfunction(value):
                found[name] = value
    return found


for _name, _method in public_methods().items():
    setattr(Repository, _name, _blocking(_method))
