"""crud_router on SQLModel: table model, and SQLModel schemas in and out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Field, SQLModel

import sqlops
import sqlops.fastapi as sf


class HeroBase(SQLModel):
    name: str = Field(max_length=40, unique=True)
    age: int | None = None


class FwHero(HeroBase, table=True):
    __tablename__ = "fw_heroes"
    id: int | None = Field(default=None, primary_key=True)


class HeroRead(HeroBase):
    id: int


class HeroUpdate(SQLModel):
    name: str | None = None
    age: int | None = None


@pytest.fixture
async def heroes(fw_db: sqlops.Database) -> AsyncIterator[httpx.AsyncClient]:
    await fw_db.create_all(SQLModel.metadata)
    app = FastAPI()
    sf.install_exception_handlers(app)
    router = sf.crud_router(
        FwHero, read=HeroRead, create=HeroBase, update=HeroUpdate, filters=["age__ge"], db=fw_db
    )
    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await fw_db.drop_all(SQLModel.metadata)


async def test_sqlmodel_endpoints(heroes: httpx.AsyncClient):
    created = await heroes.post("/fw_heroes", json={"name": "Rusty", "age": 48})
    assert (created.status_code, created.headers["location"]) == (201, "/fw_heroes/1")
    assert created.json() == {"name": "Rusty", "age": 48, "id": 1}
    duplicate = await heroes.post("/fw_heroes", json={"name": "Rusty"})
    assert duplicate.status_code == 409
    patched = await heroes.patch("/fw_heroes/1", json={"age": 49})
    assert patched.json() == {"name": "Rusty", "age": 49, "id": 1}
    listed = await heroes.get("/fw_heroes", params={"age__ge": 40})
    assert [h["name"] for h in listed.json()["items"]] == ["Rusty"]
    assert (await heroes.delete("/fw_heroes/1")).status_code == 204


async def test_sqlmodel_duplicate_names_the_field(heroes: httpx.AsyncClient) -> None:
    # on PostgreSQL and MariaDB the server names the constraint (fw_heroes_name_key, name)
    assert (await heroes.post("/fw_heroes", json={"name": "Rusty"})).status_code == 201
    duplicate = await heroes.post("/fw_heroes", json={"name": "Rusty"})
    assert duplicate.json() == {"detail": "name already exists", "field": "name"}
