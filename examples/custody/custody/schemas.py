"""Pydantic request and response bodies."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from .models import EventKind, KitStatus, Role


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StaffIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    email: str = Field(max_length=255)
    role: Role = Role.technician


class StaffOut(Out):
    id: int
    name: str
    email: str
    role: Role


class KitIn(BaseModel):
    tag: str = Field(pattern=r"^[A-Z0-9-]{2,20}$")
    name: str = Field(min_length=1, max_length=100)


class KitOut(Out):
    id: int
    tag: str
    name: str
    status: KitStatus
    holder_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class KitPage(BaseModel):
    items: list[KitOut]
    total: int
    page: int
    pages: int


class Actor(BaseModel):
    staff_id: int


class CheckOut(Actor):
    note: str | None = Field(default=None, max_length=500)


class Transfer(BaseModel):
    from_staff_id: int
    to_staff_id: int


class MaintenanceIn(Actor):
    description: str = Field(min_length=1, max_length=500)


class MaintenanceOut(Out):
    id: int
    kit_id: int
    description: str
    created_at: dt.datetime
    closed_at: dt.datetime | None


class EventOut(Out):
    id: int
    kind: EventKind
    actor_id: int
    from_staff_id: int | None
    to_staff_id: int | None
    note: str | None
    created_at: dt.datetime
