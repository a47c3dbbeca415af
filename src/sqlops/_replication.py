"""Read-your-writes over streaming replicas: wait for the replica to replay the commit.

``Database(..., replicas=[...], read_your_writes=True)``. After a write transaction
commits on the primary, :meth:`Lag.note_commit` records the primary's WAL position (one
extra round trip, on the writer, only when the option is on and there are replicas). A
standalone read or a read-only transaction routed to a replica first checks that the
replica has replayed that far (``pg_last_wal_replay_lsn()``), polling for up to
``wait`` seconds; a replica still behind then is passed over for the primary. Once a
replica has been seen past the position, later reads skip the check: reads that follow
no write cost nothing.

The position is per Database and shared by all its tasks: a read in one request sees a
write committed by another (the POST then GET of a browser, answered by two tasks). It
is the process' view: another app process does not know this one's writes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from . import _runtime
from ._engines import with_driver

logger = logging.getLogger("sqlops")

DEFAULT_WAIT = 0.1  # seconds; beyond that the primary answers faster than waiting more
# The insert position after the commit, and what is needed to map it back to a record end.
PRIMARY_POSITION = (
    "SELECT pg_current_wal_insert_lsn()::text, current_setting('wal_block_size')::int, "
    "pg_size_bytes(current_setting('wal_segment_size'))"
)
REPLAY_POSITION = "SELECT pg_last_wal_replay_lsn()::text"
SHORT_HEADER, LONG_HEADER = 24, 40  # XLog page headers (MAXALIGNed, 64-bit builds)
_FIRST_POLL, _MAX_POLL = 0.001, 0.02
_PRIMARY_AFTER_FAILURE = 1.0


def check(option: bool | float) -> float | None:
    """The wait budget in seconds for ``read_your_writes=option``, None when off."""
    if option is False:
        return None
    if option is True:
        return DEFAULT_WAIT
    if isinstance(option, (int, float)) and option >= 0:
        return float(option)
    raise ValueError(
        "read_your_writes must be True, False or the seconds to wait for a replica "
        f"(>= 0), not {option!r}"
    )


def parse_lsn(text: str) -> int:
    """``"16/B374D848"`` as a byte position."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def record_end(insert: int, block: int, segment: int) -> int:
    """The WAL insert position as the end of the last record, as a replica reports it.

    At a page boundary PostgreSQL reports the insert position past the new page's
    header, while a replica that replayed the record ending there reports the boundary
    itself; waiting for the former would wait for the next, unrelated record.
    """
    if insert % segment == LONG_HEADER:
        return insert - LONG_HEADER
    if insert % block == SHORT_HEADER and insert % segment != SHORT_HEADER:
        return insert - SHORT_HEADER
    return insert


class Lag:
    """What the replicas must have replayed before they may answer this Database's reads."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.target = 0  # the latest commit of this Database, as a WAL position
        self.seen: dict[int, int] = {}  # replica index -> replay position last observed
        self.primary_until = 0.0  # when the position could not be read: primary only
        self.waits = 0  # reads that had to check a replica (for tests and figures)
        self.fallbacks = 0  # reads sent to the primary because the replica was behind

    async def note_commit(self, primary: AsyncEngine) -> None:
        """Record the primary's WAL position after a commit (never raises: it committed)."""
        try:
            lsn, block, segment = await _fetch_row(primary, PRIMARY_POSITION)
        except Exception as exc:  # the commit stands; be safe for a while instead
            logger.warning("could not read the primary's WAL position after a commit: %s", exc)
            self.primary_until = time.monotonic() + max(self.wait, _PRIMARY_AFTER_FAILURE)
            return
        position = record_end(parse_lsn(lsn), int(block), int(segment))
        self.target = max(self.target, position)

    def behind(self, index: int) -> bool:
        """Whether replica ``index`` may not have replayed this Database's last commit."""
        if self.primary_until and time.monotonic() < self.primary_until:
            return True
        return self.seen.get(index, 0) < self.target

    async def caught_up(self, index: int, replica: AsyncEngine) -> bool:
        """Poll replica ``index`` until it has replayed the target, for ``wait`` seconds."""
        if self.primary_until and time.monotonic() < self.primary_until:
            return False
        self.waits += 1
        target, deadline, pause = self.target, time.monotonic() + self.wait, _FIRST_POLL
        while True:
            (replayed,) = await _fetch_row(replica, REPLAY_POSITION)
            if replayed is None:  # not in recovery: a primary serves its own writes
                return True
            position = parse_lsn(replayed)
            self.seen[index] = max(self.seen.get(index, 0), position)
            if position >= target:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                self.fallbacks += 1
                return False
            await _runtime.sleep(min(pause, left))
            pause = min(pause * 2, _MAX_POLL)


async def _fetch_row(engine: AsyncEngine, sql: str) -> tuple[Any, ...]:
    """One row of ``sql`` on a pooled connection: straight on asyncpg, else through Core."""
    if engine.sync_engine.dialect.driver == "asyncpg":
        row = await with_driver(engine, lambda conn: conn.fetchrow(sql))
        return tuple(row)
    async with engine.connect() as conn:
        return tuple((await conn.exec_driver_sql(sql)).one())
