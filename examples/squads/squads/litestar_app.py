"""The squads API's service routes on Litestar: the same SquadService, the same answers.

Only the HTTP layer differs from ``app.py``: the service layer (``service.py``) takes an
``AsyncSession`` and knows nothing of either framework.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

import sqlops
import sqlops.litestar as sl

from .models import User
from .schemas import SquadDetail, SquadIn, SquadOut, UserIn, UserOut
from .service import SquadService


@post("/users")
async def create_user(data: JSONBody[UserIn], transaction: sl.Transaction) -> UserOut:
    user = await sqlops.Repository(User, transaction).create(**data.model_dump())
    return UserOut.model_validate(user)


@post("/squads")
async def create_squad(data: JSONBody[SquadIn], transaction: sl.Transaction) -> SquadOut:
    squad = await SquadService(transaction).create_squad(data.name, data.owner_id)
    return SquadOut.model_validate(squad)


@get("/squads/{squad_id:int}")
async def get_squad(squad_id: FromPath[int], transaction: sl.Transaction) -> SquadDetail:
    return SquadDetail.model_validate(await SquadService(transaction).detail(squad_id))


@put("/squads/{squad_id:int}/members/{user_id:int}")
async def join_squad(
    squad_id: FromPath[int], user_id: FromPath[int], transaction: sl.Transaction
) -> Response[dict[str, Any]]:
    """Idempotent: 201 when the user joined now, 200 when they already were a member."""
    membership, created = await SquadService(transaction).join(squad_id, user_id)
    body = {"squad_id": squad_id, "user_id": user_id, "role": membership.role.value}
    return Response(body, status_code=201 if created else 200)


@post("/squads/{squad_id:int}/usage/{metric:str}", status_code=200)
async def record_usage(
    squad_id: FromPath[int],
    metric: FromPath[str],
    transaction: sl.Transaction,
    by: FromQuery[int] = 1,
) -> dict[str, Any]:
    count = await SquadService(transaction).record_usage(squad_id, metric, by)
    return {"metric": metric, "count": count}


def create_app(db: sqlops.Database | None = None) -> Litestar:
    """The Litestar app on ``db`` (default: ``$DATABASE_URL``, else the embedded SQLite file)."""
    database = db if db is not None else sqlops.Database()
    handlers = [create_user, create_squad, get_squad, join_squad, record_usage]
    return Litestar(handlers, plugins=[sl.SqlopsPlugin(database)])
