"""The squads HTTP API.

Routes live on a module-level router; the Database is bound when the app is created
(``create_app(db)``), and the request's transaction finds it on ``app.state``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Response
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
import sqlops.fastapi as sf

from .models import Feedback, Task, UsageMetric, User
from .schemas import (
    FeedbackIn,
    FeedbackSummary,
    SquadDetail,
    SquadIn,
    SquadOut,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
    UsageOut,
    UserIn,
    UserOut,
    UserPage,
)
from .service import SquadService

router = APIRouter()

Tx = Annotated[AsyncSession, sf.transaction()]
UserFilters = Annotated[
    dict[str, Any], sf.query_filters(allow=["name", "name__ilike", "email", "created_at__ge"])
]
UserOrder = Annotated[Any, sf.ordering(allow=["id", "name", "email", "created_at"], default="id")]
Paging = Annotated[sf.PageParams, sf.page_params(per_page=20, max_per_page=100)]
TaskFilters = Annotated[
    dict[str, Any],
    sf.query_filters(allow=["status", "status__in", "assignee_id", "title__contains"]),
]
Cursor = Annotated[sf.CursorParams, sf.cursor_params(limit=20, max_limit=100)]


# ----------------------------------------------------------------------------- users


@router.post("/users", status_code=201)
async def create_user(body: UserIn, session: Tx) -> UserOut:
    user = await sqlops.Repository(User, session).create(**body.model_dump())
    return UserOut.model_validate(user)


@router.get("/users")
async def list_users(
    session: Tx, filters: UserFilters, order: UserOrder, paging: Paging
) -> UserPage:
    page = await sqlops.Repository(User, session).page(
        page=paging.page, per_page=paging.per_page, order_by=order, **filters
    )
    return UserPage(
        items=[UserOut.model_validate(u) for u in page.items],
        total=page.total,
        page=page.page,
        pages=page.pages,
    )


@router.get("/users/{user_id}")
async def get_user(user_id: int, session: Tx) -> UserOut:
    return UserOut.model_validate(await sqlops.Repository(User, session).get_one(user_id))


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(user_id: int, session: Tx) -> None:
    """Soft delete: the user vanishes from reads; their squads and feedback stay."""
    if not await sqlops.Repository(User, session).soft_delete(user_id):
        raise sqlops.NotFoundError(User, user_id)


@router.post("/users/{user_id}/restore")
async def restore_user(user_id: int, session: Tx) -> UserOut:
    users = sqlops.Repository(User, session)
    if not await users.restore(user_id):
        raise sqlops.NotFoundError(User, user_id)
    return UserOut.model_validate(await users.get_one(user_id))


# ----------------------------------------------------------------------------- squads


@router.post("/squads", status_code=201)
async def create_squad(body: SquadIn, session: Tx) -> SquadOut:
    squad = await SquadService(session).create_squad(body.name, body.owner_id)
    return SquadOut.model_validate(squad)


@router.get("/squads/{squad_id}")
async def get_squad(squad_id: int, session: Tx) -> SquadDetail:
    return SquadDetail.model_validate(await SquadService(session).detail(squad_id))


@router.put("/squads/{squad_id}/members/{user_id}")
async def join_squad(
    squad_id: int, user_id: int, session: Tx, response: Response
) -> dict[str, Any]:
    """Idempotent: 201 when the user joined now, 200 when they already were a member."""
    membership, created = await SquadService(session).join(squad_id, user_id)
    response.status_code = 201 if created else 200
    return {"squad_id": squad_id, "user_id": user_id, "role": membership.role.value}


# ----------------------------------------------------------------------------- tasks


@router.post("/squads/{squad_id}/tasks", status_code=201)
async def add_task(squad_id: int, body: TaskIn, session: Tx) -> TaskOut:
    task = await SquadService(session).add_task(squad_id, body.title, body.assignee_id)
    return TaskOut.model_validate(task)


@router.get("/squads/{squad_id}/tasks")
async def list_tasks(squad_id: int, session: Tx, filters: TaskFilters, cursor: Cursor) -> TaskPage:
    page = await sqlops.Repository(Task, session).cursor_page(
        after=cursor.after, limit=cursor.limit, squad_id=squad_id, **filters
    )
    return TaskPage(
        items=[TaskOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.patch("/tasks/{task_id}")
async def update_task(task_id: int, body: TaskPatch, session: Tx) -> TaskOut:
    changes = body.model_dump(exclude_unset=True)
    task = await sqlops.Repository(Task, session).update(task_id, **changes)
    return TaskOut.model_validate(task)


@router.post("/tasks/{task_id}/feedback", status_code=201)
async def rate_task(task_id: int, body: FeedbackIn, session: Tx) -> dict[str, int]:
    await sqlops.Repository(Task, session).get_one(task_id)
    feedback = await sqlops.Repository(Feedback, session).create(
        task_id=task_id, **body.model_dump()
    )
    return {"id": feedback.id}


@router.get("/tasks/{task_id}/feedback")
async def feedback_summary(task_id: int, session: Tx) -> FeedbackSummary:
    count, average = await SquadService(session).feedback_summary(task_id)
    return FeedbackSummary(task_id=task_id, count=count, average=average)


# ----------------------------------------------------------------------------- usage


@router.post("/squads/{squad_id}/usage/{metric}")
async def record_usage(squad_id: int, metric: str, session: Tx, by: int = 1) -> dict[str, Any]:
    count = await SquadService(session).record_usage(squad_id, metric, by)
    return {"metric": metric, "count": count}


@router.get("/squads/{squad_id}/usage")
async def list_usage(squad_id: int, session: Tx) -> list[UsageOut]:
    rows = await sqlops.Repository(UsageMetric, session).list(squad_id=squad_id, order_by="metric")
    return [UsageOut.model_validate(r) for r in rows]


def create_app(db: sqlops.Database | None = None) -> FastAPI:
    """The app on ``db`` (default: ``$DATABASE_URL``, else the embedded SQLite file)."""
    database = db if db is not None else sqlops.Database()
    app = FastAPI(title="squads", lifespan=sf.lifespan(database))
    sf.install_exception_handlers(app)
    app.include_router(router)
    return app
