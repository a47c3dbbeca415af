"""psycopg (3) under the fast paths, in both APIs: the calls the template runner and COPY make.

The shared fast paths speak to a driver connection as they speak to asyncpg: a template
read calls ``fetch_typed`` (rows and, the first time, the result columns' type codes), the
bulk path asyncpg's ``copy_records_to_table``. :class:`AsyncFace` gives psycopg's
``AsyncConnection`` (``postgresql+psycopg://`` in :class:`sqlops.Database`) those calls;
the sync twin's faces live in :mod:`sqlops.sync._copy`, and both build COPY with
:func:`copy_statement`.

A standalone read (``in_transaction=False``) runs in autocommit, one statement and no
BEGIN / ROLLBACK around it, as on asyncpg; psycopg's switch is client-side while the
connection is idle, and it is switched back before the connection returns to the pool.
Inside a session's transaction the read runs in it, so it sees (and joins) the
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Dialect


def is_async_psycopg(dialect: Dialect) -> bool:
    """Whether ``dialect`` is SQLAlchemy's psycopg dialect in its async mode."""
    return dialect.driver == "psycopg" and bool(dialect.is_async)


def face(driver: Any, dialect: Dialect, *, in_transaction: bool) -> Any:
    """``driver`` as the fast paths call it: an :class:`AsyncFace` for async psycopg."""
    if is_async_psycopg(dialect):
        return AsyncFace(driver, in_transaction=in_transaction)
    return driver


def copy_statement(table_name: str, columns: Sequence[str], schema_name: str | None) -> Any:
    """``COPY table (columns) FROM STDIN``, every name quoted by psycopg."""
    from psycopg import sql

    target = sql.Identifier(schema_name, table_name) if schema_name else sql.Identifier(table_name)
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        target, sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


class AsyncFace:
    """``fetch_typed``, ``is_in_transaction`` and ``copy_records_to_table`` over psycopg's
    ``AsyncConnection``."""

    __slots__ = ("autocommit", "connection")

    def __init__(self, connection: Any, *, in_transaction: bool) -> None:
        self.connection = connection
        self.autocommit = not in_transaction

    @property
    def closed(self) -> bool:
        return bool(self.connection.closed)

    def is_closed(self) -> bool:
        """asyncpg's name for it: :func:`sqlops._engines.with_driver` asks after a failure."""
        return bool(self.connection.closed or self.connection.broken)

    async def fetch_typed(
        self, sql: str, parameters: Any, codes: bool
    ) -> tuple[list[Any], list[Any]]:
        """The rows; with ``codes``, the result columns' type codes too (a first run)."""
        conn = self.connection
        switch = self.autocommit and not conn.autocommit
        if switch:
            await conn.set_autocommit(True)
        try:
            cursor = conn.cursor()
            try:
                await cursor.execute(sql, parameters)
                rows = await cursor.fetchall()
                types = [column[1] for column in cursor.description or ()] if codes else []
            finally:
                await cursor.close()
        finally:
            if switch and not conn.closed:
                await conn.set_autocommit(False)
        return rows, types

    def is_in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.connection.info.transaction_status != TransactionStatus.IDLE)

    async def copy_records_to_table(
        self,
        table_name: str,
        *,
        records: Iterable[Sequence[Any]],
        columns: Sequence[str],
        schema_name: str | None = None,
    ) -> None:
        """COPY the records in, row by row through psycopg's binary-safe writer."""
        statement = copy_statement(table_name, columns, schema_name)
        async with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for record in records:
                await copy.write_row(record)
