"""The sync ``Session`` class behind every ``AsyncSession`` that sqlops creates.

The guards (lazy loads, N+1) hook ``do_orm_execute``. Hooked on SQLAlchemy's own
``Session`` they would run for every session in the process, including ones the
application builds without sqlops; hooked on this subclass they run only for sessions
from ``Database.session()`` / ``transaction()`` and the standalone repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import _translate, _versioning


class SqlopsSession(Session):
    """A plain ``Session``; the class scopes sqlops' event hooks and names stale writes."""

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        """Execute; a refused value bound into the statement itself names its column.

        The translator names the column from the parameters of an execution; values
        written into an INSERT / UPDATE (``.values(...)``) are not among them.
        """
        with _translate.naming_inline(statement, self.get_bind):
            return super().execute(statement, *args, **kwargs)

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        """Flush; a versioned object that lost a race raises ``StaleVersionError``.

        Every flush passes here: ``commit()`` and autoflush included.
        """
        pending = _versioning.pending(self)
        try:
            super().flush(objects)
        except StaleDataError as exc:
            raise _versioning.stale_error(exc, pending) from exc
