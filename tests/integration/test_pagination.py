"""Offset pages with totals; keyset pages that return every row exactly once."""

from __future__ import annotations

import base64
import json

import pytest

import sqlops
from tests.models import User


@pytest.fixture
async def users(db: sqlops.Database) -> sqlops.Repository[User]:
    repo = sqlops.Repository(User, db)
    # 23 users; names repeat (a non-unique sort key); some ages are NULL.
    rows = [
        {"email": f"u{i:02}@x", "name": f"n{i % 4}", "age": None if i % 5 == 0 else i % 7}
        for i in range(23)
    ]
    await repo.create_many(rows)
    return repo


async def test_page_has_items_total_and_pages(users: sqlops.Repository[User]) -> None:
    first = await users.page(page=1, per_page=10)
    assert (first.total, first.pages, first.page, first.per_page) == (23, 3, 1, 10)
    assert [u.email for u in first.items] == [f"u{i:02}@x" for i in range(10)]
    assert first.has_next and not first.has_previous
    last = await users.page(page=3, per_page=10)
    assert len(last.items) == 3 and not last.has_next
    beyond = await users.page(page=9, per_page=10)
    assert beyond.items == [] and beyond.total == 23
    filtered = await users.page(name="n1", per_page=2, order_by="-email")
    assert filtered.total == 6
    assert [u.email for u in filtered.items] == ["u21@x", "u17@x"]
    empty = await users.page(name="nobody")
    assert (empty.total, empty.pages, empty.items) == (0, 0, [])


@pytest.mark.parametrize(("page", "per_page"), [(0, 10), (1, 0), (-1, 5), (1, -3)])
async def test_page_rejects_bad_numbers(
    users: sqlops.Repository[User], page: int, per_page: int
) -> None:
    with pytest.raises(ValueError):
        await users.page(page=page, per_page=per_page)


@pytest.mark.parametrize(
    "order_by", [None, "name", "-name", ["name", "-email"], "age", "-age", ["-age", "name"]]
)
async def test_cursor_pages_return_every_row_exactly_once(
    users: sqlops.Repository[User], order_by: object
) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await users.cursor_page(after=cursor, limit=4, order_by=order_by)
        seen += [u.email for u in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        assert pages < 20
    assert sorted(seen) == sorted(f"u{i:02}@x" for i in range(23))
    assert len(seen) == len(set(seen)) == 23
    assert pages == 6
    # the order is the requested one (NULLs last), matching an offset listing
    expected = await _python_order(users, order_by)
    assert seen == expected


async def _python_order(users: sqlops.Repository[User], order_by: object) -> list[str]:
    rows = await users.list()
    keys = order_by if isinstance(order_by, list) else [order_by] if order_by else []
    ordered = sorted(rows, key=lambda u: u.id)  # then stable sorts, least significant first
    for key in reversed(keys):
        name = str(key).lstrip("-")
        desc = str(key).startswith("-")
        with_value = [u for u in ordered if getattr(u, name) is not None]
        without = [u for u in ordered if getattr(u, name) is None]
        with_value.sort(key=lambda u: getattr(u, name), reverse=desc)
        ordered = with_value + without
    return [u.email for u in ordered]


async def test_cursor_page_with_filters(users: sqlops.Repository[User]) -> None:
    page = await users.cursor_page(limit=2, name="n2")
    assert [u.email for u in page.items] == ["u02@x", "u06@x"]
    page = await users.cursor_page(after=page.next_cursor, limit=2, name="n2")
    assert [u.email for u in page.items] == ["u10@x", "u14@x"]


async def test_cursor_is_opaque_and_url_safe(users: sqlops.Repository[User]) -> None:
    page = await users.cursor_page(limit=3, order_by="name")
    cursor = page.next_cursor
    assert cursor is not None
    assert all(c.isalnum() or c in "-_" for c in cursor)


@pytest.mark.parametrize(
    "cursor",
    ["", "not-a-cursor", "!!!", "a" * 5000, base64.urlsafe_b64encode(b"[1,2]").decode()],
)
async def test_garbage_cursor_is_invalid(users: sqlops.Repository[User], cursor: str) -> None:
    with pytest.raises(sqlops.InvalidCursorError) as info:
        await users.cursor_page(after=cursor)
    assert isinstance(info.value, ValueError)


async def test_forged_cursor_is_invalid(users: sqlops.Repository[User]) -> None:
    page = await users.cursor_page(limit=3, order_by="name")
    assert page.next_cursor
    raw = base64.urlsafe_b64decode(page.next_cursor + "==")
    payload, mac = raw[:-16], raw[-16:]
    tag, _ = json.loads(payload)
    forged = json.dumps([tag, ["n0", 0]], separators=(",", ":")).encode()
    cursor = base64.urlsafe_b64encode(forged + mac).rstrip(b"=").decode()
    with pytest.raises(sqlops.InvalidCursorError, match="altered"):
        await users.cursor_page(after=cursor, order_by="name")


async def test_stale_cursor_for_another_ordering(users: sqlops.Repository[User]) -> None:
    page = await users.cursor_page(limit=3, order_by="name")
    with pytest.raises(sqlops.InvalidCursorError, match="different ordering"):
        await users.cursor_page(after=page.next_cursor, order_by="-name")


async def test_cursor_from_another_database_is_invalid(
    users: sqlops.Repository[User], db: sqlops.Database
) -> None:
    page = await users.cursor_page(limit=3)
    other = sqlops.Database(db.url, cursor_secret="another-deployment")
    try:
        with pytest.raises(sqlops.InvalidCursorError):
            await sqlops.Repository(User, other).cursor_page(after=page.next_cursor)
    finally:
        await other.dispose()


async def test_cursor_valid_across_database_objects(
    users: sqlops.Repository[User], db: sqlops.Database
) -> None:
    """Database objects of one process share the fallback key (tests/integration/
    test_cursor_secret.py shows why other processes do not)."""
    page = await users.cursor_page(limit=3)
    other = sqlops.Database(db.url)
    try:
        again = await sqlops.Repository(User, other).cursor_page(after=page.next_cursor, limit=3)
        assert [u.email for u in again.items] == ["u03@x", "u04@x", "u05@x"]
    finally:
        await other.dispose()


async def test_cursor_page_in_injected_mode(db: sqlops.Database, users: object) -> None:
    async with db.session() as s:
        repo = sqlops.Repository(User, s)
        first = await repo.cursor_page(limit=20)
        rest = await repo.cursor_page(after=first.next_cursor, limit=20)
    assert len(first.items) + len(rest.items) == 23


async def test_cursor_page_rejects_bad_limit(users: sqlops.Repository[User]) -> None:
    with pytest.raises(ValueError):
        await users.cursor_page(limit=0)


async def test_stream_yields_every_row_in_order(users: sqlops.Repository[User]) -> None:
    emails = [u.email async for u in users.stream(batch_size=5)]
    assert emails == [f"u{i:02}@x" for i in range(23)]
    desc = [u.email async for u in users.stream(order_by="-email", batch_size=7, name="n0")]
    assert desc == ["u20@x", "u16@x", "u12@x", "u08@x", "u04@x", "u00@x"]
