"""ETag / If-Match on a ``Versioned`` model: 412 on a stale version, 428 when it is missing."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel
from sqlalchemy import String
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
import sqlops.fastapi as sf
from sqlops.models import IntPK, Versioned


class Base(DeclarativeBase):
    pass


class Page(Versioned, IntPK, Base):
    __tablename__ = "etag_pages"
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(String(200), default="")


class PageOut(BaseModel):
    id: int
    title: str
    version: int


class PagePatch(BaseModel):
    title: str | None = None
    body: str | None = None


def make_app(db: sqlops.Database) -> FastAPI:
    app = FastAPI()
    sf.install_exception_handlers(app)
    Tx = Annotated[AsyncSession, sf.transaction(db)]

    @app.get("/pages/{pk}")
    async def read(pk: int, response: Response) -> PageOut:
        page = await sqlops.Repository(Page, db).get_one(pk, schema=PageOut)
        response.headers["ETag"] = sf.etag(page)
        return page  # type: ignore[no-any-return]

    @app.patch("/pages/{pk}")
    async def patch(
        pk: int,
        body: PagePatch,
        session: Tx,
        response: Response,
        version: Annotated[int | None, sf.if_match()],
    ) -> dict[str, Any]:
        page = await sqlops.Repository(Page, session).update(pk, body, expected_version=version)
        response.headers["ETag"] = sf.etag(page)
        return {"title": page.title, "version": page.version}

    @app.put("/pages/{pk}/body")
    async def put_body(
        pk: int,
        body: PagePatch,
        session: Tx,
        version: Annotated[int | None, sf.if_match(required=False)],
    ) -> dict[str, Any]:
        if body.body is None:
            raise HTTPException(422, "body needed")
        page = await sqlops.Repository(Page, session).update(pk, body, expected_version=version)
        return {"version": page.version}

    return app


@pytest.fixture
async def client(url: URL | str) -> AsyncIterator[httpx.AsyncClient]:
    async with sqlops.Database(url) as db:
        await db.drop_all(Base.metadata)
        await db.create_all(Base.metadata)
        await sqlops.Repository(Page, db).create(title="first")
        transport = httpx.ASGITransport(app=make_app(db), raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http
        finally:
            await db.drop_all(Base.metadata)


async def test_get_sends_the_version_as_a_strong_etag(client: httpx.AsyncClient) -> None:
    response = await client.get("/pages/1")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.json()["version"] == 1


async def test_a_matching_if_match_updates_and_sends_the_new_etag(
    client: httpx.AsyncClient,
) -> None:
    etag = (await client.get("/pages/1")).headers["ETag"]
    response = await client.patch("/pages/1", json={"title": "second"}, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    assert response.json() == {"title": "second", "version": 2}
    assert response.headers["ETag"] == '"2"'


async def test_a_stale_if_match_is_412_with_the_current_etag(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/pages/1")).headers["ETag"]
    await client.patch("/pages/1", json={"title": "theirs"}, headers={"If-Match": etag})
    response = await client.patch("/pages/1", json={"title": "mine"}, headers={"If-Match": etag})
    assert response.status_code == 412
    assert response.headers["ETag"] == '"2"'
    assert "changed by someone else" in response.json()["detail"]
    assert (await client.get("/pages/1")).json()["title"] == "theirs"


async def test_a_missing_if_match_is_428(client: httpx.AsyncClient) -> None:
    response = await client.patch("/pages/1", json={"title": "x"})
    assert response.status_code == 428
    assert "If-Match" in response.json()["detail"]


async def test_if_match_star_and_an_optional_header_update_unchecked(
    client: httpx.AsyncClient,
) -> None:
    star = await client.patch("/pages/1", json={"title": "x"}, headers={"If-Match": "*"})
    assert star.status_code == 200 and star.json()["version"] == 2
    optional = await client.put("/pages/1/body", json={"body": "b"})
    assert optional.status_code == 200 and optional.json() == {"version": 3}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # parsing: one backend is enough
@pytest.mark.parametrize(
    ("header", "status"),
    [('W/"1"', 412), ('"abc"', 412), ("1", 400), ('"1", "2"', 400), ('"', 400)],
)
async def test_unusable_if_match_values(
    client: httpx.AsyncClient, header: str, status: int
) -> None:
    response = await client.patch("/pages/1", json={"title": "x"}, headers={"If-Match": header})
    assert response.status_code == status, response.text
    assert (await client.get("/pages/1")).json()["version"] == 1


async def test_a_missing_row_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/pages/99", json={"title": "x"}, headers={"If-Match": '"1"'})
    assert response.status_code == 404


def test_etag_of_an_unversioned_object_is_refused() -> None:
    class Plain(BaseModel):
        id: int

    with pytest.raises(TypeError, match="not versioned"):
        sf.etag(Plain(id=1))


def test_parse_if_match() -> None:
    assert sf.parse_if_match('"7"') == 7
    assert sf.parse_if_match(' "7" ') == 7
    assert sf.parse_if_match("*") is None
