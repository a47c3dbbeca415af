"""``increment`` on inheritance hierarchies changes only a row of the class it was asked on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "inc_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    hits: Mapped[int] = mapped_column(default=0)
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "account"}


class Person(Account):  # single-table
    __mapper_args__ = {"polymorphic_identity": "person"}


class Robot(Account):  # single-table sibling
    __mapper_args__ = {"polymorphic_identity": "robot"}


class Vehicle(Base):
    __tablename__ = "inc_vehicles"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "vehicle"}


class Truck(Vehicle):  # joined: the counter lives in the subclass table
    __tablename__ = "inc_trucks"
    id: Mapped[int] = mapped_column(ForeignKey("inc_vehicles.id"), primary_key=True)
    loads: Mapped[int | None] = mapped_column(default=None)
    __mapper_args__ = {"polymorphic_identity": "truck"}


@pytest.fixture
async def db(url: Any) -> AsyncIterator[sqlops.Database]:
    async with sqlops.Database(url) as database:
        await database.drop_all(Base.metadata)
        await database.create_all(Base.metadata)
        try:
            yield database
        finally:
            await database.drop_all(Base.metadata)


async def test_a_sibling_row_is_not_found_and_not_changed(db: sqlops.Database) -> None:
    robot = await sqlops.Repository(Robot, db).create()
    with pytest.raises(sqlops.NotFoundError):
        await sqlops.Repository(Person, db).increment(robot.id, "hits")
    assert (await sqlops.Repository(Robot, db).get_one(robot.id)).hits == 0
    person = await sqlops.Repository(Person, db).create()
    assert await sqlops.Repository(Person, db).increment(person.id, "hits", 3) == 3
    assert await sqlops.Repository(Account, db).increment(robot.id, "hits") == 1  # the base


async def test_joined_subclass_counter_counts_from_null(db: sqlops.Database) -> None:
    truck = await sqlops.Repository(Truck, db).create()
    trucks = sqlops.Repository(Truck, db)
    assert await trucks.increment(truck.id, "loads") == 1
    async with db.transaction() as s:
        assert await sqlops.Repository(Truck, s).increment(truck.id, "loads", 2) == 3
    assert (await trucks.get_one(truck.id)).loads == 3
