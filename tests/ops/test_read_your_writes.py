"""``read_your_writes=`` on every backend: inert without replicas or WAL, strict on bad input.

The real replica behaviour (a lagging standby) is in tests/reliability/test_read_your_writes.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import URL

import sqlops
from sqlops import _replication
from tests.models import Base, Team


async def test_the_option_is_harmless_without_replicas_or_lsn(url: URL | str) -> None:
    """No replicas (any backend), or a "replica" that is a primary (PostgreSQL: no replay)."""
    for replicas in ((), (url,)):
        async with sqlops.Database(url, replicas=replicas, read_your_writes=True) as db:
            await db.drop_all(Base.metadata)
            await db.create_all(Base.metadata)
            teams = sqlops.Repository(Team, db)
            team = await teams.create(name="seen at once")
            assert await teams.get(team.id) is not None
            assert (db._lag is not None) == (bool(replicas) and db.dialect == "postgresql")
            await db.drop_all(Base.metadata)


@pytest.mark.parametrize("bad", [-1, "yes", None, [0.1]])
def test_a_bad_value_is_refused_with_one_line(bad: object) -> None:
    with pytest.raises(ValueError, match="read_your_writes must be True, False or the seconds"):
        sqlops.Database("sqlite+aiosqlite://", read_your_writes=bad)  # type: ignore[arg-type]


def test_wait_budgets() -> None:
    assert _replication.check(False) is None
    assert _replication.check(True) == _replication.DEFAULT_WAIT
    assert _replication.check(0) == 0.0 and _replication.check(0.25) == 0.25


def test_lsn_text_round_trips() -> None:
    assert _replication.parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert _replication.format_lsn(_replication.parse_lsn("0/3000148")) == "0/3000148"


BLOCK, SEGMENT = 8192, 16 * 1024 * 1024


@pytest.mark.parametrize(
    ("insert", "end"),
    [
        (SEGMENT * 3 + 4096, SEGMENT * 3 + 4096),  # mid-page: the record ends there
        (SEGMENT * 3 + BLOCK * 5 + 24, SEGMENT * 3 + BLOCK * 5),  # past a short page header
        (SEGMENT * 3 + 40, SEGMENT * 3),  # past a segment's long header
        (SEGMENT * 3 + 24, SEGMENT * 3 + 24),  # inside a long header is not a boundary
    ],
)
def test_an_insert_position_past_a_page_header_maps_to_the_record_end(
    insert: int, end: int
) -> None:
    assert _replication.record_end(insert, BLOCK, SEGMENT) == end
