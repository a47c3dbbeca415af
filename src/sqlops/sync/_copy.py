"""PostgreSQL COPY for the sync twin: psycopg 3's ``cursor.copy()`` behind asyncpg's call.

The shared bulk path (:func:`sqlops._bulk._copy`) speaks asyncpg's
``copy_records_to_table``; this gives a psycopg connection that call, so ``create_many``
keeps one implementation for both APIs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ._driver import TemplateDriver


class RawConnection:
    """A pooled connection whose ``driver_connection`` can COPY like asyncpg's."""

    __slots__ = ("fairy",)

    def __init__(self, fairy: Any) -> None:
        self.fairy = fairy

    @property
    def dbapi_connection(self) -> Any:
        return self.fairy.dbapi_connection

    @property
    def driver_connection(self) -> Any:
        """The driver connection with the template runner's call (and psycopg's COPY).

        A read template in an injected session runs on it (``_attach.on_driver``), inside
        the session's transaction.
        """
        driver = self.fairy.driver_connection
        if type(driver).__module__.startswith("psycopg"):
            return PsycopgCopy(driver)
        return TemplateDriver(driver, "", standalone=False)

    def invalidate(self, exception: BaseException | None = None) -> None:
        self.fairy.invalidate(exception)


class PsycopgCopy(TemplateDriver):
    """asyncpg's ``is_in_transaction`` and ``copy_records_to_table`` over psycopg 3."""

    __slots__ = ()

    def __init__(self, connection: Any) -> None:
        super().__init__(connection, "psycopg", standalone=False)

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
        """``COPY table (columns) FROM STDIN``, one row at a time through psycopg."""
        from psycopg import sql

        target = (
            sql.Identifier(schema_name, table_name) if schema_name else sql.Identifier(table_name)
        )
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            target, sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for record in records:
                copy.write_row(record)
