"""The sync ``Session`` class behind every ``AsyncSession`` that sqlops creates.

The guards (lazy loads, N+1) hook ``do_orm_execute``. Hooked on SQLAlchemy's own
``Session`` they would run for every session in the process, including ones the
application builds without sqlops; hooked on this subclass they run only for sessions
from ``Database.session()`` / ``transaction()`` and the standalone repository.
"""

from __future__ import annotations

from sqlalchemy.orm import Session


class SqlopsSession(Session):
    """A plain ``Session``; the class only scopes sqlops' event hooks."""
