"""User operations: registration with clear conflicts, bulk import, streaming export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import sqlops

from .models import User, UserCreate, UserRead

TAKEN = {
    "username": "username already taken",
    "email": "email already registered",
}


class AccountTaken(Exception):
    """Registration clashed with an existing account; ``field`` says on what."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(TAKEN.get(field, "an account with these details already exists"))


async def register(bind: sqlops.Database | AsyncSession, data: UserCreate) -> User:
    """Create a user; a clash names the field from ``UniqueViolation.columns``."""
    try:
        return await sqlops.Repository(User, bind).create(User.model_validate(data))
    except sqlops.UniqueViolation as exc:
        raise AccountTaken(exc.columns[0] if len(exc.columns) == 1 else "") from exc


async def import_users(
    db: sqlops.Database,
    rows: Iterable[Mapping[str, Any]],
    *,
    chunk_size: int = 500,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Insert ``rows`` (any iterable, consumed lazily) in chunks: all or nothing.

    ``progress(done)`` is called after each chunk. One transaction: a bad row (a
    duplicate, say) aborts the whole import rather than leaving half of it behind.
    """
    return int(
        await sqlops.Repository(User, db).create_many(
            rows, chunk_size=chunk_size, progress=progress
        )
    )


async def export_ndjson(db: sqlops.Database, *, batch_size: int = 500) -> AsyncIterator[bytes]:
    """Every user as one JSON line, streamed in flat memory (a server-side cursor)."""
    async for user in sqlops.Repository(User, db).stream(order_by="id", batch_size=batch_size):
        yield UserRead.model_validate(user).model_dump_json().encode() + b"\n"


def parse_ndjson(lines: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    """Validated user rows from NDJSON lines (blank lines skipped)."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                yield UserCreate.model_validate(json.loads(line)).model_dump()
            except ValueError as exc:
                raise sqlops.InvalidValueError(f"line {number}: not a valid user") from exc
