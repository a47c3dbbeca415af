"""The repository works on SQLModel ``table=True`` classes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import Field, SQLModel

import sqlops


class Hero(SQLModel, table=True):
    __tablename__ = "sqlmodel_heroes"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=50)
    age: int | None = None


@pytest.fixture
async def heroes(url: str) -> AsyncIterator[sqlops.Repository[Hero]]:
    async with sqlops.Database(url) as db:
        await db.create_all(SQLModel.metadata)
        try:
            yield sqlops.Repository(Hero, db)
        finally:
            await db.drop_all(SQLModel.metadata)


async def test_crud_on_sqlmodel(heroes: sqlops.Repository[Hero]) -> None:
    hero = await heroes.create(name="Deadpond", age=30)
    assert isinstance(hero, Hero) and hero.id
    assert (await heroes.get_one(hero.id)).name == "Deadpond"
    assert [h.name for h in await heroes.list(age__gt=20)] == ["Deadpond"]
    await heroes.update(hero.id, age=31)
    assert (await heroes.one(name="Deadpond")).age == 31
    page = await heroes.page(per_page=5)
    assert page.total == 1


async def test_sqlmodel_unique_violation_names_the_column(heroes: sqlops.Repository[Hero]) -> None:
    await heroes.create(name="Rusty")
    with pytest.raises(sqlops.UniqueViolation) as info:
        await heroes.create(name="Rusty")
    assert info.value.table == "sqlmodel_heroes"
    assert info.value.columns == ("name",)


async def test_sqlmodel_bulk_and_stream(heroes: sqlops.Repository[Hero]) -> None:
    assert await heroes.create_many({"name": f"h{i}", "age": i} for i in range(100)) == 100
    ages = [h.age async for h in heroes.stream(batch_size=30)]
    assert ages == list(range(100))
    assert await heroes.upsert_many([{"name": "h1", "age": 99}], conflict=["name"]) == 1
    assert (await heroes.one(name="h1")).age == 99
