"""The custody HTTP API."""

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
import sqlops.fastapi as sf

from .models import Kit, Staff
from .schemas import (
    Actor,
    CheckOut,
    EventOut,
    KitIn,
    KitOut,
    KitPage,
    MaintenanceIn,
    MaintenanceOut,
    StaffIn,
    StaffOut,
    Transfer,
)
from .service import CustodyService, KitUnavailable

router = APIRouter()
Tx = Annotated[AsyncSession, sf.transaction()]
KitFilters = Annotated[
    dict[str, Any],
    sf.query_filters(allow=["status", "status__in", "holder_id", "tag", "name__ilike"]),
]
KitOrder = Annotated[Any, sf.ordering(allow=["tag", "name", "updated_at", "id"], default="tag")]
Paging = Annotated[sf.PageParams, sf.page_params(per_page=25, max_per_page=200)]


@router.post("/staff", status_code=201)
async def add_staff(body: StaffIn, session: Tx) -> StaffOut:
    return StaffOut.model_validate(
        await sqlops.Repository(Staff, session).create(**body.model_dump())
    )


@router.post("/kits", status_code=201)
async def add_kit(body: KitIn, session: Tx) -> KitOut:
    return KitOut.model_validate(await sqlops.Repository(Kit, session).create(**body.model_dump()))


@router.get("/kits")
async def list_kits(session: Tx, filters: KitFilters, order: KitOrder, paging: Paging) -> KitPage:
    page = await sqlops.Repository(Kit, session).page(
        page=paging.page, per_page=paging.per_page, order_by=order, **filters
    )
    items = [KitOut.model_validate(k) for k in page.items]
    return KitPage(items=items, total=page.total, page=page.page, pages=page.pages)


@router.get("/kits/{kit_id}")
async def get_kit(kit_id: int, session: Tx) -> KitOut:
    return KitOut.model_validate(await sqlops.Repository(Kit, session).get_one(kit_id))


@router.delete("/kits/{kit_id}", status_code=204)
async def delete_kit(kit_id: int, session: Tx) -> None:
    """Deletes the kit with its custody events and maintenance records."""
    if not await sqlops.Repository(Kit, session).delete(kit_id):
        raise sqlops.NotFoundError(Kit, kit_id)


@router.post("/kits/{kit_id}/check-out")
async def check_out(kit_id: int, body: CheckOut, session: Tx) -> KitOut:
    kit = await CustodyService(session).check_out(kit_id, body.staff_id, body.note)
    return KitOut.model_validate(kit)


@router.post("/kits/{kit_id}/check-in")
async def check_in(kit_id: int, body: Actor, session: Tx) -> KitOut:
    return KitOut.model_validate(await CustodyService(session).check_in(kit_id, body.staff_id))


@router.post("/kits/{kit_id}/transfer")
async def transfer(kit_id: int, body: Transfer, session: Tx) -> KitOut:
    kit = await CustodyService(session).transfer(kit_id, body.from_staff_id, body.to_staff_id)
    return KitOut.model_validate(kit)


@router.post("/kits/{kit_id}/lost")
async def lost(kit_id: int, body: Actor, session: Tx) -> KitOut:
    return KitOut.model_validate(await CustodyService(session).report_lost(kit_id, body.staff_id))


@router.post("/kits/{kit_id}/found")
async def found(kit_id: int, body: Actor, session: Tx) -> KitOut:
    return KitOut.model_validate(await CustodyService(session).report_found(kit_id, body.staff_id))


@router.post("/kits/{kit_id}/maintenance", status_code=201)
async def start_maintenance(kit_id: int, body: MaintenanceIn, session: Tx) -> MaintenanceOut:
    record = await CustodyService(session).start_maintenance(
        kit_id, body.staff_id, body.description
    )
    return MaintenanceOut.model_validate(record)


@router.post("/maintenance/{record_id}/close")
async def finish_maintenance(record_id: int, body: Actor, session: Tx) -> MaintenanceOut:
    record = await CustodyService(session).finish_maintenance(record_id, body.staff_id)
    return MaintenanceOut.model_validate(record)


@router.get("/kits/{kit_id}/events")
async def history(kit_id: int, session: Tx) -> list[EventOut]:
    return [EventOut.model_validate(e) for e in await CustodyService(session).history(kit_id)]


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KitUnavailable)
    return JSONResponse({"detail": str(exc), "status": exc.status.value}, status_code=409)


def create_app(db: sqlops.Database | None = None) -> FastAPI:
    app = FastAPI(title="custody", lifespan=sf.lifespan(db or sqlops.Database()))
    sf.install_exception_handlers(app)
    app.add_exception_handler(KitUnavailable, _unavailable)
    app.include_router(router)
    return app
