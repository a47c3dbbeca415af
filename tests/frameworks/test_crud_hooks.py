"""crud_router's hooks for features of other wave-2 branches: ``search=`` and ``Versioned``.

Each test runs once its feature is merged (``sqlops.Search``, ``sqlops.models.Versioned``
with ``update(expected_version=)``); until then it is skipped, and building a router with
``search=`` is refused (tested below, always).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
import sqlops.fastapi as sf
import sqlops.models

from .models import Author, AuthorIn, AuthorOut

Search = getattr(sqlops, "Search", None)
Versioned: Any = getattr(sqlops.models, "Versioned", None)


@pytest.mark.skipif(Search is not None, reason="sqlops.Search exists: search= is served")
def test_search_without_sqlops_search_is_refused_at_build_time():
    with pytest.raises(TypeError, match=r"search= needs sqlops\.Search"):
        sf.crud_router(Author, read=AuthorOut, search=["name"])


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.skipif(Search is None, reason="sqlops.Search lands with the filters branch")
@pytest.mark.usefixtures("authors")
async def test_q_searches_the_given_fields(fw_db: sqlops.Database):
    app = FastAPI()
    sf.install_exception_handlers(app)
    router = sf.crud_router(Author, read=AuthorOut, search=["name", "email"], db=fw_db)
    app.include_router(router)
    parameters = app.openapi()["paths"]["/fw_authors"]["get"]["parameters"]
    assert "q" in {p["name"] for p in parameters}
    async with await client_for(app) as http:
        found = await http.get("/fw_authors", params={"q": "CY@X"})
        assert [a["name"] for a in found.json()["items"]] == ["Cy"]
        literal = await http.get("/fw_authors", params={"q": "%"})  # wildcards are literal
        assert literal.json()["items"] == []


class VersionedBase(DeclarativeBase):
    pass


if Versioned is not None:

    class Doc(Versioned, VersionedBase):  # type: ignore[misc, valid-type]
        __tablename__ = "fw_docs"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(50))


class DocIn(BaseModel):
    title: str


class DocOut(DocIn):
    model_config = ConfigDict(from_attributes=True)
    id: int
    version: int


@pytest.fixture
async def doc_client(fw_db: sqlops.Database) -> AsyncIterator[httpx.AsyncClient]:
    await fw_db.create_all(VersionedBase.metadata)
    app = FastAPI()
    sf.install_exception_handlers(app)
    app.include_router(sf.crud_router(Doc, read=DocOut, create=DocIn, update=DocIn, db=fw_db))
    try:
        async with await client_for(app) as http:
            yield http
    finally:
        await fw_db.drop_all(VersionedBase.metadata)


@pytest.mark.skipif(Versioned is None, reason="Versioned lands with the schemas branch")
async def test_etag_on_reads_and_if_match_on_patch(doc_client: httpx.AsyncClient):
    assert (await doc_client.post("/fw_docs", json={"title": "a"})).status_code == 201
    read = await doc_client.get("/fw_docs/1")
    assert read.headers["etag"] == '"1"'
    changed = await doc_client.patch("/fw_docs/1", json={"title": "b"}, headers={"If-Match": '"1"'})
    assert (changed.status_code, changed.headers["etag"]) == (200, '"2"')
    stale = await doc_client.patch("/fw_docs/1", json={"title": "c"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json() == {"detail": "the resource was changed by someone else; fetch it again"}
    assert (await doc_client.get("/fw_docs/1")).json()["title"] == "b"
    forged = await doc_client.patch("/fw_docs/1", json={"title": "d"}, headers={"If-Match": "x"})
    assert forged.status_code == 400
    unconditional = await doc_client.patch("/fw_docs/1", json={"title": "e"})
    assert unconditional.headers["etag"] == '"3"'


@pytest.mark.skipif(Versioned is None, reason="Versioned lands with the schemas branch")
@pytest.mark.parametrize(
    ("header", "status"),
    [('W/"1"', 412), ('"1", "2"', 400), ('"abc"', 412), ('"', 400), ('"1"', 200)],
)
async def test_if_match_compares_strongly_like_parse_if_match(
    doc_client: httpx.AsyncClient, header: str, status: int
) -> None:
    """crud_router reads If-Match as ``sqlops.fastapi.parse_if_match`` does: a weak tag is 412."""
    assert (await doc_client.post("/fw_docs", json={"title": "a"})).status_code == 201
    response = await doc_client.patch(
        "/fw_docs/1", json={"title": "b"}, headers={"If-Match": header}
    )
    assert response.status_code == status
    expected_title = "b" if status == 200 else "a"
    assert (await doc_client.get("/fw_docs/1")).json()["title"] == expected_title


@pytest.mark.skipif(Versioned is None, reason="Versioned lands with the schemas branch")
async def test_if_match_on_delete(doc_client: httpx.AsyncClient) -> None:
    """A DELETE based on an old version is a 412 with the current ETag; nothing is deleted."""
    assert (await doc_client.post("/fw_docs", json={"title": "a"})).status_code == 201
    await doc_client.patch("/fw_docs/1", json={"title": "b"})  # version 2 now
    stale = await doc_client.delete("/fw_docs/1", headers={"If-Match": '"1"'})
    assert (stale.status_code, stale.headers["etag"]) == (412, '"2"')
    assert stale.json() == {"detail": "the resource was changed by someone else; fetch it again"}
    assert (await doc_client.get("/fw_docs/1")).status_code == 200
    current = await doc_client.delete("/fw_docs/1", headers={"If-Match": '"2"'})
    assert current.status_code == 204
    gone = await doc_client.delete("/fw_docs/1", headers={"If-Match": '"2"'})
    assert gone.status_code == 404
    again = (await doc_client.post("/fw_docs", json={"title": "c"})).json()["id"]
    assert (await doc_client.delete(f"/fw_docs/{again}")).status_code == 204  # no If-Match


def test_no_if_match_parameter_without_versioned():
    app = FastAPI()
    app.include_router(sf.crud_router(Author, read=AuthorOut, update=AuthorIn))
    paths = app.openapi()["paths"]["/fw_authors/{id}"]
    assert [p["name"] for p in paths["patch"]["parameters"]] == ["id"]
    assert [p["name"] for p in paths["delete"]["parameters"]] == ["id"]
