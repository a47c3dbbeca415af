"""The custody HTTP API: ``def`` routes, one sync ``Session`` and transaction per request.

FastAPI runs each route (and its ``sync_transaction()`` dependency) in its thread pool;
the request's session is the only one the route touches, so a request checks out one
pooled connection, however many repositories and service calls it goes through.
"""

import os
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

import sqlops
import sqlops.fastapi as sf
from sqlops import sync

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
Tx = Annotated[Session, sf.sync_transaction()]  # app.state.sqlops_sync_db
KitFilters = Annotated[
    dict[str, Any],
    sf.query_filters(allow=["status", "status__in", "holder_id", "tag", "name__ilike"]),
]
KitOrder = Annotated[Any, sf.ordering(allow=["tag", "name", "updated_at", "id"], default="tag")]
Paging = Annotated[sf.PageParams, sf.page_params(per_page=25, max_per_page=200)]


@router.post("/staff", status_code=201)
def add_staff(body: StaffIn, session: Tx) -> StaffOut:
    return StaffOut.model_validate(sync.Repository(Staff, session).create(**body.model_dump()))


@router.post("/kits", status_code=201)
def add_kit(body: KitIn, session: Tx) -> KitOut:
    return KitOut.model_validate(sync.Repository(Kit, session).create(**body.model_dump()))


@router.get("/kits")
def list_kits(session: Tx, filters: KitFilters, order: KitOrder, paging: Paging) -> KitPage:
    page = sync.Repository(Kit, session).page(
        page=paging.page, per_page=paging.per_page, order_by=order, **filters
    )
    items = [KitOut.model_validate(k) for k in page.items]
    return KitPage(items=items, total=page.total, page=page.page, pages=page.pages)


@router.get("/kits/{kit_id}")
def get_kit(kit_id: int, session: Tx) -> KitOut:
    return KitOut.model_validate(sync.Repository(Kit, session).get_one(kit_id))


@router.delete("/kits/{kit_id}", status_code=204)
def delete_kit(kit_id: int, session: Tx) -> None:
    """Deletes the kit with its custody events and maintenance records."""
    if not sync.Repository(Kit, session).delete(kit_id):
        raise sqlops.NotFoundError(Kit, kit_id)


@router.post("/kits/{kit_id}/check-out")
def check_out(kit_id: int, body: CheckOut, session: Tx) -> KitOut:
    kit = CustodyService(session).check_out(kit_id, body.staff_id, body.note)
    return KitOut.model_validate(kit)


@router.post("/kits/{kit_id}/check-in")
def check_in(kit_id: int, body: Actor, session: Tx) -> KitOut:
    return KitOut.model_validate(CustodyService(session).check_in(kit_id, body.staff_id))


@router.post("/kits/{kit_id}/transfer")
def transfer(kit_id: int, body: Transfer, session: Tx) -> KitOut:
    kit = CustodyService(session).transfer(kit_id, body.from_staff_id, body.to_staff_id)
    return KitOut.model_validate(kit)


@router.post("/kits/{kit_id}/lost")
def lost(kit_id: int, body: Actor, session: Tx) -> KitOut:
    return KitOut.model_validate(CustodyService(session).report_lost(kit_id, body.staff_id))


@router.post("/kits/{kit_id}/found")
def found(kit_id: int, body: Actor, session: Tx) -> KitOut:
    return KitOut.model_validate(CustodyService(session).report_found(kit_id, body.staff_id))


@router.post("/kits/{kit_id}/maintenance", status_code=201)
def start_maintenance(kit_id: int, body: MaintenanceIn, session: Tx) -> MaintenanceOut:
    record = CustodyService(session).start_maintenance(kit_id, body.staff_id, body.description)
    return MaintenanceOut.model_validate(record)


@router.post("/maintenance/{record_id}/close")
def finish_maintenance(record_id: int, body: Actor, session: Tx) -> MaintenanceOut:
    record = CustodyService(session).finish_maintenance(record_id, body.staff_id)
    return MaintenanceOut.model_validate(record)


@router.get("/kits/{kit_id}/events")
def history(kit_id: int, session: Tx) -> list[EventOut]:
    return [EventOut.model_validate(e) for e in CustodyService(session).history(kit_id)]


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KitUnavailable)
    return JSONResponse({"detail": str(exc), "status": exc.status.value}, status_code=409)


def make_database(url: str | URL | None = None) -> sync.Database:
    """The app's database: connections checked before use and recycled before the server's
    idle timeout (MariaDB's ``wait_timeout``, a proxy's) can cut them."""
    return sync.Database(
        url or os.environ.get("DATABASE_URL"),
        pool_pre_ping=True,
        pool_recycle=int(os.environ.get("CUSTODY_POOL_RECYCLE", "1800")),
    )


def create_app(db: sync.Database | None = None) -> FastAPI:
    app = FastAPI(title="custody", lifespan=sf.sync_lifespan(db or make_database()))
    sf.install_exception_handlers(app)
    app.add_exception_handler(KitUnavailable, _unavailable)
    app.include_router(router)
    return app
