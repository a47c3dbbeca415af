"""SQLModel tables on sqlops: clear conflicts, bulk import with progress, streaming export."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlmodel_users.models import Post, User, UserCreate
from sqlmodel_users.service import AccountTaken, import_users, register

import sqlops


def person(n: int) -> dict[str, object]:
    return {"username": f"user{n:04d}", "email": f"user{n:04d}@example.org"}


async def test_duplicate_username_and_email_get_distinct_messages(client: httpx.AsyncClient):
    assert (await client.post("/users", json=person(1))).status_code == 201
    same_name = await client.post("/users", json={**person(1), "email": "other@example.org"})
    same_mail = await client.post("/users", json={**person(1), "username": "someone"})
    assert same_name.status_code == same_mail.status_code == 409
    assert same_name.json() == {"detail": "username already taken", "field": "username"}
    assert same_mail.json() == {"detail": "email already registered", "field": "email"}


async def test_register_names_the_clashing_column(db: sqlops.Database):
    await register(db, UserCreate(username="ada", email="ada@example.org"))
    with pytest.raises(AccountTaken) as caught:
        await register(db, UserCreate(username="ada2", email="ada@example.org"))
    assert caught.value.field == "email"
    assert isinstance(caught.value.__cause__, sqlops.UniqueViolation)


async def test_batch_insert_reports_progress_per_chunk(db: sqlops.Database):
    seen: list[int] = []
    done = await import_users(db, (person(n) for n in range(1200)), progress=seen.append)
    assert done == 1200
    assert seen == [500, 1000, 1200]
    assert await sqlops.Repository(User, db).count() == 1200
    first = await sqlops.Repository(User, db).first(order_by="id")
    assert first is not None
    assert first.created_at.tzinfo is not None  # the column default ran, on COPY too


async def test_import_over_http_is_all_or_nothing(client: httpx.AsyncClient, db: sqlops.Database):
    good = b"\n".join(json.dumps(person(n)).encode() for n in range(3))
    assert (await client.post("/users/import", content=good)).json() == {"imported": 3}
    clash = b"\n".join(json.dumps(person(n)).encode() for n in range(3, 8)) + b"\n" + good
    response = await client.post("/users/import", content=clash)
    assert response.status_code == 409
    assert await sqlops.Repository(User, db).count() == 3  # none of the 5 new ones either
    broken = await client.post("/users/import", content=b'{"username": 1}\n')
    assert broken.status_code == 422


async def test_export_streams_every_user_as_ndjson(client: httpx.AsyncClient, db: sqlops.Database):
    await import_users(db, (person(n) for n in range(1100)))
    lines = []
    async with client.stream("GET", "/users/export") as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        async for line in response.aiter_lines():
            lines.append(json.loads(line))
    assert len(lines) == 1100
    assert [row["username"] for row in lines[:2]] == ["user0000", "user0001"]
    assert lines[-1]["email"] == "user1099@example.org"


async def test_posts_page_and_go_with_their_author(client: httpx.AsyncClient, db: sqlops.Database):
    user = (await client.post("/users", json=person(7))).json()
    for title in ("first", "second", "third"):
        await client.post(f"/users/{user['id']}/posts", json={"title": title, "body": "…"})
    page = await client.get(f"/users/{user['id']}/posts", params={"per_page": 2})
    assert [p["title"] for p in page.json()] == ["third", "second"]
    assert (
        await client.post("/users/999/posts", json={"title": "x", "body": "y"})
    ).status_code == 404
    assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    assert await sqlops.Repository(Post, db).count() == 0
