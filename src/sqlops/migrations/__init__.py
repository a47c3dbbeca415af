"""Alembic migrations without an ``alembic.ini``: settings from ``[tool.sqlops]``.

::

    from sqlops import migrations

    migrations.init()                                  # writes migrations/ with an async env.py
    migrations.revision("add users", autogenerate=True)
    migrations.upgrade()                               # to head
    assert migrations.check() == []                    # models and database agree

Needs Alembic (``pip install 'sqlops[cli]'``). The same functions drive
``sqlops migrate ...`` and the pytest plugin's ``sqlops_alembic`` schema.
"""

from sqlops import MissingDependencyError  # via sqlops: shown as sqlops.MissingDependencyError

try:
    import alembic  # noqa: F401 - only to say which extra is missing
except ModuleNotFoundError:  # pragma: no cover - tested in the bare-install check
    raise MissingDependencyError(
        "sqlops.migrations needs Alembic: pip install 'sqlops[cli]'", extra="cli", name="alembic"
    ) from None

from ._commands import (
    Revision,
    alembic_config,
    check,
    current,
    downgrade,
    init,
    revision,
    upgrade,
)
from ._settings import MigrationError, MigrationSettings, load_settings

__all__ = [
    "MigrationError",
    "MigrationSettings",
    "Revision",
    "alembic_config",
    "check",
    "current",
    "downgrade",
    "init",
    "load_settings",
    "revision",
    "upgrade",
]
