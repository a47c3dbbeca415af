"""Squad operations that take more than one repository call, on the request's session."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops

from .models import Feedback, Membership, Role, Squad, Task, UsageMetric, User


class SquadService:
    """Works inside the caller's transaction (the FastAPI request's): flushes, never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.users = sqlops.Repository(User, session)
        self.squads = sqlops.Repository(Squad, session)
        self.members = sqlops.Repository(Membership, session)
        self.tasks = sqlops.Repository(Task, session)
        self.usage = sqlops.Repository(UsageMetric, session)

    async def create_squad(self, name: str, owner_id: int) -> Squad:
        """A squad and its owner's membership, together (a deleted owner is a 404)."""
        await self.users.get_one(owner_id)
        squad = await self.squads.create(name=name, owner_id=owner_id)
        await self.members.create(squad_id=squad.id, user_id=owner_id, role=Role.owner)
        return squad

    async def join(self, squad_id: int, user_id: int) -> tuple[Membership, bool]:
        """Add a member, idempotently and race-safely; ``(membership, created)``."""
        await self.squads.get_one(squad_id)
        await self.users.get_one(user_id)
        return await self.members.get_or_create(
            defaults={"role": Role.member}, squad_id=squad_id, user_id=user_id
        )

    async def detail(self, squad_id: int) -> Squad:
        return await self.squads.get_one(squad_id, load=["members.user"])

    async def add_task(self, squad_id: int, title: str, assignee_id: int | None) -> Task:
        await self.squads.get_one(squad_id)
        return await self.tasks.create(squad_id=squad_id, title=title, assignee_id=assignee_id)

    async def feedback_summary(self, task_id: int) -> tuple[int, float | None]:
        """How many ratings a task has and their average, in one aggregate query."""
        await self.tasks.get_one(task_id)
        stmt = select(func.count(), func.avg(Feedback.rating)).where(Feedback.task_id == task_id)
        count, average = (await self.session.execute(stmt)).one()
        return int(count), None if average is None else round(float(average), 2)

    async def record_usage(self, squad_id: int, metric: str, by: int = 1) -> int:
        """Add ``by`` to today's counter and return the new total; exact under concurrency.

        The upsert makes sure today's row exists without a read-then-insert race (and
        takes its row lock); the increment is one atomic ``UPDATE … SET count = count + by``.
        """
        await self.squads.get_one(squad_id)
        key = {"squad_id": squad_id, "metric": metric, "day": dt.date.today()}
        await self.usage.upsert({**key, "count": 0}, update=[])
        return int(await self.usage.increment(key, "count", by))
