"""Alembic environment for this project, written by ``sqlops migrate init``; edit freely.

Runs migrations on the async engine, through ``connection.run_sync``. Settings come from
``[tool.sqlops]`` in pyproject.toml: ``url`` (the env var holding the URL), ``metadata``
(your models) and ``migrations`` (this directory).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from sqlops.migrations import env

config = context.config

# What autogenerate compares the database with. To name it here instead of in
# pyproject.toml: `from app.models import Base` and `target_metadata = Base.metadata`.
target_metadata = env.target_metadata(config)


def do_run_migrations(connection: Connection) -> None:
    """Configure Alembic on ``connection`` and run the migrations (plain sync code)."""
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,  # a changed column type is a difference too
        render_as_batch=sqlite,  # SQLite cannot ALTER most things: copy and move instead
        transactional_ddl=sqlite or None,  # sqlops' SQLite engine emits BEGIN: all or nothing
        render_item=env.render_item,  # import custom column types in revision files
        on_version_apply=env.on_version_apply(config),  # the CLI's progress bar
    )
    with context.begin_transaction():
        context.run_migrations()
        env.check_foreign_keys(connection)  # SQLite: batch mode ran with them off


async def run_async_migrations() -> None:
    """Open the async engine (no pool: one connection, then gone) and migrate on it."""
    engine = env.migration_engine(env.database_url(config))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise env.MigrationError("offline (--sql) migrations are not supported by this env.py")

# A caller that already holds a connection (a test fixture, say) can pass it in
# config.attributes["connection"]; it is a sync Connection from `run_sync`.
shared = config.attributes.get("connection")
if shared is not None:
    do_run_migrations(shared)
else:
    asyncio.run(run_async_migrations())
