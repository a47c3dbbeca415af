"""Request and response bodies."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from .models import Role, TaskStatus


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserIn(BaseModel):
    email: str = Field(max_length=255)
    name: str = Field(max_length=100)


class UserOut(Out):
    id: int
    email: str
    name: str
    created_at: dt.datetime


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    page: int
    pages: int


class SquadIn(BaseModel):
    name: str = Field(max_length=80)
    owner_id: int


class MemberOut(Out):
    user_id: int
    role: Role
    user: UserOut


class SquadOut(Out):
    id: int
    name: str
    owner_id: int


class SquadDetail(SquadOut):
    members: list[MemberOut]


class TaskIn(BaseModel):
    title: str = Field(max_length=200)
    assignee_id: int | None = None


class TaskPatch(BaseModel):
    status: TaskStatus | None = None
    assignee_id: int | None = None


class TaskOut(Out):
    id: int
    squad_id: int
    title: str
    status: TaskStatus
    assignee_id: int | None


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class FeedbackIn(BaseModel):
    user_id: int
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class FeedbackSummary(BaseModel):
    task_id: int
    count: int
    average: float | None


class UsageOut(Out):
    metric: str
    day: dt.date
    count: int
