"""``UUIDPK`` makes time-ordered UUIDv7 keys (RFC 9562), on every backend."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import String
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from sqlops import models
from sqlops.models import _UUID7, UUIDPK


class Plain(DeclarativeBase):
    pass


class Event(UUIDPK, Plain):
    __tablename__ = "uuid7_events"
    name: Mapped[str] = mapped_column(String(20))


GENERATORS = {"ours": _UUID7(), "in use": models.uuid7}


@pytest.fixture(params=sorted(GENERATORS))
def make(request: pytest.FixtureRequest) -> _UUID7:
    return GENERATORS[request.param]  # type: ignore[no-any-return]


def test_version_and_variant_bits(make: _UUID7) -> None:
    for _ in range(1000):
        key = make()
        assert key.version == 7
        assert key.variant == uuid.RFC_4122
        assert (key.int >> 76) & 0xF == 7 and (key.int >> 62) & 0b11 == 0b10


def test_the_timestamp_is_the_creation_millisecond(make: _UUID7) -> None:
    before = time.time_ns() // 1_000_000
    key = make()
    after = time.time_ns() // 1_000_000
    assert before <= key.int >> 80 <= after + 1


def test_fast_generation_is_strictly_increasing_and_unique(make: _UUID7) -> None:
    keys = [make() for _ in range(50_000)]  # many per millisecond
    assert len(set(keys)) == len(keys)
    assert all(a < b for a, b in itertools.pairwise(keys))
    assert keys == sorted(keys, key=str)  # the text form sorts the same way


def test_counter_overflow_moves_to_the_next_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time_ns()
    monkeypatch.setattr(models.time, "time_ns", lambda: now)  # a clock stuck in one ms
    make = _UUID7()
    first = make()
    second = make()
    assert second.int >> 80 == first.int >> 80  # same millisecond, the counter counts
    make._counter = make._COUNTER_MAX  # the next key in this millisecond cannot count up
    third = make()
    assert third > second
    assert third.int >> 80 == (first.int >> 80) + 1


def test_a_clock_going_back_keeps_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    make = _UUID7()
    first = make()
    now = time.time_ns()
    monkeypatch.setattr(models.time, "time_ns", lambda: now - 5_000_000_000)  # 5 s back
    later = [make() for _ in range(10)]
    assert all(a < b for a, b in zip([first, *later], later, strict=False))


def test_the_standard_library_is_used_where_it_has_uuid7() -> None:
    assert models.uuid7 is getattr(uuid, "uuid7", models.uuid7)


@pytest.fixture
async def events(url: URL | str) -> AsyncIterator[sqlops.Repository[Event]]:
    async with sqlops.Database(url) as db:
        await db.drop_all(Plain.metadata)
        await db.create_all(Plain.metadata)
        try:
            yield sqlops.Repository(Event, db)
        finally:
            await db.drop_all(Plain.metadata)


async def test_keys_sort_in_creation_order_in_the_database(
    events: sqlops.Repository[Event],
) -> None:
    made = [await events.create(name=f"e{i}") for i in range(20)]
    made += await events.create_many(({"name": f"bulk{i}"} for i in range(200)), returning=True)
    assert all(e.id.version == 7 for e in made)
    stored = await events.list(order_by="id")
    assert [e.id for e in stored] == [e.id for e in made]
    assert [e.name for e in stored][:3] == ["e0", "e1", "e2"]
