"""The users HTTP API (SQLModel classes double as request and response schemas)."""

import logging
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
import sqlops.fastapi as sf

from .models import Post, PostCreate, PostRead, Team, User, UserCreate, UserRead
from .service import AccountTaken, export_ndjson, import_users, parse_ndjson, register

logger = logging.getLogger("sqlmodel_users")

Tx = Annotated[AsyncSession, sf.transaction()]
Db = Annotated[sqlops.Database, sf.database()]
Paging = Annotated[sf.PageParams, sf.page_params(per_page=50, max_per_page=500)]


def create_app(db: sqlops.Database | None = None) -> FastAPI:
    app = FastAPI(title="sqlmodel users", lifespan=sf.lifespan(db or sqlops.Database()))
    sf.install_exception_handlers(app)

    @app.exception_handler(AccountTaken)
    async def taken(request: Request, exc: AccountTaken) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=409)

    @app.post("/teams", status_code=201)
    async def create_team(name: str, session: Tx) -> dict[str, int | None]:
        team = await sqlops.Repository(Team, session).create(name=name)
        return {"id": team.id}

    @app.post("/users", status_code=201)
    async def create_user(body: UserCreate, session: Tx) -> UserRead:
        return UserRead.model_validate(await register(session, body))

    @app.post("/users/import")
    async def import_ndjson(request: Request, db: Db) -> dict[str, int]:
        """Bulk-create users from an NDJSON body, all or nothing."""
        lines = (await request.body()).splitlines()
        done = await import_users(
            db, parse_ndjson(lines), progress=lambda n: logger.info("imported %d users", n)
        )
        return {"imported": done}

    @app.get("/users/export")
    async def export(db: Db) -> StreamingResponse:
        return StreamingResponse(export_ndjson(db), media_type="application/x-ndjson")

    @app.post("/users/{user_id}/posts", status_code=201)
    async def write_post(user_id: int, body: PostCreate, session: Tx) -> PostRead:
        await sqlops.Repository(User, session).get_one(user_id)
        post = await sqlops.Repository(Post, session).create(author_id=user_id, **body.model_dump())
        return PostRead.model_validate(post)

    @app.get("/users/{user_id}/posts")
    async def list_posts(user_id: int, session: Tx, paging: Paging) -> list[PostRead]:
        page = await sqlops.Repository(Post, session).page(
            author_id=user_id, page=paging.page, per_page=paging.per_page, order_by="-id"
        )
        return [PostRead.model_validate(p) for p in page.items]

    @app.delete("/users/{user_id}", status_code=204)
    async def delete_user(user_id: int, session: Tx) -> None:
        """Deletes the user's posts too (``cascade_delete=True`` on the relationship)."""
        if not await sqlops.Repository(User, session).delete(user_id):
            raise sqlops.NotFoundError(User, user_id)

    return app
