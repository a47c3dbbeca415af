"""What the generated ``env.py`` asks of sqlops: the URL, the models, a migration engine.

The glue puts its :class:`MigrationSettings` and URL into ``config.attributes``; these
helpers read them back, so ``env.py`` stays short and keeps working when Alembic is
driven by hand (``Config`` built in code, settings read from ``pyproject.toml``).
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from sqlalchemy import MetaData, event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from sqlops._engines import make_engine as _make_engine
from sqlops._url import dialect_family

from ._settings import MigrationError, MigrationSettings, import_metadata, load_settings

SETTINGS_KEY = "sqlops.settings"
URL_KEY = "sqlops.url"
ON_STEP_KEY = "sqlops.on_step"


def settings_of(config: Config) -> MigrationSettings:
    """The settings the glue passed in, else those of the nearest ``pyproject.toml``."""
    settings = config.attributes.get(SETTINGS_KEY)
    if settings is None:
        settings = load_settings()
        config.attributes[SETTINGS_KEY] = settings
    assert isinstance(settings, MigrationSettings)
    return settings


def target_metadata(config: Config) -> MetaData | None:
    """The models' ``MetaData`` named by ``[tool.sqlops] metadata`` (None if unset)."""
    settings = settings_of(config)
    if settings.metadata is None:
        return None
    return import_metadata(settings.metadata)  # the project root is on sys.path already


def database_url(config: Config) -> URL:
    """The async URL to migrate (``--url``, else ``[tool.sqlops] url``, else the default)."""
    override = config.attributes.get(URL_KEY)
    return settings_of(config).database_url(override)


def migration_engine(url: URL) -> AsyncEngine:
    """An engine configured like ``sqlops.Database``'s, without a pool.

    Same connection set-up (MariaDB strict mode and UTC, SQLite WAL and an explicit
    ``BEGIN``, so a SQLite migration is one transaction), with one exception: SQLite
    foreign keys are off. Batch mode rebuilds a table by copy, drop and rename, and with
    foreign keys on the DROP would fire ``ON DELETE CASCADE`` on every referencing row.
    :func:`check_foreign_keys` verifies them before the migration commits instead.
    """
    engine = _make_engine(url, False, {}, {"poolclass": NullPool})
    if dialect_family(url) == "sqlite":
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    return engine


def _foreign_keys_off(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = OFF")
    cursor.close()


def check_foreign_keys(connection: Connection) -> None:
    """On SQLite, refuse to commit a migration that left a dangling foreign key."""
    if connection.dialect.name != "sqlite":
        return
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if rows:
        broken = ", ".join(sorted({f"{row[0]} -> {row[2]}" for row in rows}))
        raise MigrationError(
            f"the migration leaves {len(rows)} row(s) whose foreign key points nowhere "
            f"({broken}); nothing was committed"
        )


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> Any:
    """Import the module of a custom column type in the revision file that uses it.

    Alembic writes ``sqlops.models.UTCDateTime()`` but not ``import sqlops.models``, so
    the revision would fail to run. Returning False keeps Alembic's own rendering.
    """
    if type_ == "type":
        module = type(obj).__module__
        if not module.startswith("sqlalchemy.") and module != "builtins":
            autogen_context.imports.add(f"import {module}")
    return False


def on_version_apply(config: Config) -> Any:
    """The per-revision callback the CLI uses for its progress bar (or None)."""
    on_step = config.attributes.get(ON_STEP_KEY)
    if on_step is None:
        return None

    def _applied(*, step: Any, **_: Any) -> None:
        script = step.up_revision
        doc = f" {script.doc}" if script is not None and script.doc else ""
        on_step(f"{'upgraded' if step.is_upgrade else 'downgraded'} {step.up_revision_id}{doc}")

    return _applied


__all__ = [
    "MigrationError",
    "check_foreign_keys",
    "database_url",
    "migration_engine",
    "on_version_apply",
    "render_item",
    "settings_of",
    "target_metadata",
]
