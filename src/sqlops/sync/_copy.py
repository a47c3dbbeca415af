"""The driver face of a session's sync connection: templates and PostgreSQL COPY.

The shared fast paths speak to ``raw.driver_connection`` as they would to asyncpg or
aiosqlite: a template read calls ``fetch_typed`` (:class:`sqlops.sync._driver.TemplateDriver`)
and the bulk path (:func:`sqlops._bulk._copy`) asyncpg's ``copy_records_to_table``. Here a
session's psycopg, sqlite3 or PyMySQL connection is given those calls, so an injected read
takes the template route as a standalone one does, and ``create_many`` keeps one
implementation for both APIs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlops import _psycopg

from ._driver import TemplateDriver


class RawConnection:
    """A session's pooled connection whose ``driver_connection`` runs templates (and COPY)."""

    __slots__ = ("driver", "fairy")

    def __init__(self, fairy: Any, driver: str) -> None:
        self.fairy = fairy
        self.driver = driver

    @property
    def dbapi_connection(self) -> Any:
        return self.fairy.dbapi_connection

    @property
    def driver_connection(self) -> TemplateDriver:
        driver = self.fairy.driver_connection
        if self.driver == "psycopg":
            return PsycopgCopy(driver, self.driver, in_transaction=True)
        return TemplateDriver(driver, self.driver, in_transaction=True)

    def invalidate(self, exception: BaseException | None = None) -> None:
        self.fairy.invalidate(exception)


class PsycopgCopy(TemplateDriver):
    """asyncpg's ``is_in_transaction`` and ``copy_records_to_table`` over psycopg 3."""

    __slots__ = ()

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
        statement = _psycopg.copy_statement(table_name, columns, schema_name)
        with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for record in records:
                copy.write_row(record)
