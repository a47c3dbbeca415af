"""The test kit for the sync twin: a sync Database on the test database, rolled-back sessions."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from sqlops.sync import Database as SyncDatabase


def sync_database(url: URL, options: dict[str, Any]) -> SyncDatabase:
    """A sync Database on the database of ``url`` (its async driver swapped for the sync one).

    Options the sync Database does not take are left out.
    """
    accepted = inspect.signature(SyncDatabase).parameters
    kept = {k: v for k, v in options.items() if k in accepted}
    return SyncDatabase(url.set(drivername=url.get_backend_name()), **kept)


@contextmanager
def rolled_back_session(db: SyncDatabase) -> Iterator[Session]:
    """Yield a ``Session`` inside one outer transaction that is rolled back on exit.

    The session joins with ``join_transaction_mode="create_savepoint"``, as the async
    kit's sessions do: code under test may commit, roll back and nest savepoints.
    """
    with db.engine.connect() as connection:
        transaction = connection.begin()
        factory: Any = db._core._sessionmaker  # a SessionFactory (sqlops.sync._adapters)
        maker = factory.maker
        session = maker(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            if transaction.is_active:
                transaction.rollback()
