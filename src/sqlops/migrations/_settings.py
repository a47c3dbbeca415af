"""Migration settings: ``[tool.sqlops]`` in the project's ``pyproject.toml``.

::

    [tool.sqlops]
    url = "DATABASE_URL"                    # the env var holding the URL (or a literal URL)
    metadata = "app.models:Base.metadata"   # what autogenerate compares the database with
    migrations = "migrations"               # the directory, relative to pyproject.toml

The URL is named by its environment variable, not written down, so the file can be
committed and the same project migrates every environment.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from sqlops._errors import SqlopsError
from sqlops._url import resolve_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

PYPROJECT = "pyproject.toml"
DEFAULT_DIRECTORY = "migrations"


class MigrationError(SqlopsError):
    """Migrations are misconfigured, or Alembic refused a command."""


@dataclass(frozen=True)
class MigrationSettings:
    """Where the project, its models, its migrations and its database are."""

    root: Path
    """The project directory (the one holding ``pyproject.toml``); on ``sys.path``."""
    directory: Path
    """The migrations directory (absolute)."""
    metadata: str | None
    """``"pkg.module:attr"`` naming the ``MetaData`` to compare with, if configured."""
    url_setting: str | None
    """``[tool.sqlops] url`` as written: an env var name or a literal URL."""

    def database_url(self, override: str | URL | None = None) -> URL:
        """The async URL to migrate: ``override``, else the configured one, else the default.

        No ``url`` setting means what ``sqlops.Database()`` uses: ``$DATABASE_URL`` or the
        embedded SQLite file. A setting naming an unset variable is an error rather than a
        silent fall back to SQLite: migrating the wrong database is worse than stopping.
        """
        if override is not None:
            return resolve_url(override)
        setting = self.url_setting
        if setting is None:
            return resolve_url(None)
        if "://" in setting:
            return resolve_url(setting)
        value = os.environ.get(setting)
        if not value:
            raise MigrationError(
                f"environment variable {setting} is not set ([tool.sqlops] url names it); "
                f"export {setting}=postgresql://... or pass --url"
            )
        return resolve_url(value)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / PYPROJECT
        if candidate.is_file():
            return candidate
    return None


def load_settings(config: str | os.PathLike[str] | None = None) -> MigrationSettings:
    """Read ``[tool.sqlops]`` from ``config`` (a ``pyproject.toml`` or its directory).

    ``None`` searches upward from the current directory; without any ``pyproject.toml``
    the defaults apply, rooted at the current directory. ``config`` may also be the
    migrations directory itself (it holds ``env.py``): the settings then come from the
    nearest ``pyproject.toml`` above it, and the directory is that one.
    """
    if config is not None and (Path(config) / "env.py").is_file():
        directory = Path(config).resolve()
        found = find_pyproject(directory.parent)
        base = load_settings(found) if found else _settings(directory.parent, {})
        return replace(base, directory=directory)
    path = _pyproject_path(config)
    if path is None:
        return _settings(Path.cwd(), {})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MigrationError(f"cannot read {path}: {exc}") from exc
    section = data.get("tool", {}).get("sqlops", {})
    if not isinstance(section, Mapping):
        raise MigrationError(f"{path}: [tool.sqlops] must be a table")
    return _settings(path.parent.resolve(), section)


def _pyproject_path(config: str | os.PathLike[str] | None) -> Path | None:
    if config is None:
        return find_pyproject(Path.cwd().resolve())
    path = Path(config)
    if path.is_dir():
        path = path / PYPROJECT
    if not path.is_file():
        raise MigrationError(f"no such file: {path}")
    return path


def _settings(root: Path, section: Mapping[str, Any]) -> MigrationSettings:
    values = {key: section.get(key) for key in ("url", "metadata", "migrations")}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise MigrationError(f"[tool.sqlops] {key} must be a string, not {value!r}")
    directory = Path(values["migrations"] or DEFAULT_DIRECTORY)
    return MigrationSettings(
        root=root,
        directory=directory if directory.is_absolute() else root / directory,
        metadata=values["metadata"],
        url_setting=values["url"],
    )


def import_metadata(spec: str) -> MetaData:
    """Import ``"pkg.module:attr.path"`` and check that it is a ``MetaData``."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise MigrationError(
            f"[tool.sqlops] metadata must look like 'pkg.module:Base.metadata', not {spec!r}"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise MigrationError(f"cannot import {module_name} (metadata = {spec!r}): {exc}") from exc
    for name in attr_path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise MigrationError(f"{spec!r}: {name!r} not found") from None
    if not isinstance(target, MetaData):
        raise MigrationError(
            f"{spec!r} is a {type(target).__name__}, not a MetaData (try '{spec}.metadata')"
        )
    return target
