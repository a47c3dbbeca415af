"""Read ``[tool.sqlops.audit]`` from the nearest ``pyproject.toml`` that has it.

Like ruff, the search walks up from the first checked path and stops at the
first ``pyproject.toml`` holding the section, so a sub-package's own
``pyproject.toml`` without it does not hide the repository's settings.
``exclude`` patterns are relative to that file's directory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

_KEYS = frozenset({"select", "ignore", "exclude"})


class ConfigError(ValueError):
    """Raised for an unreadable or invalid ``[tool.sqlops.audit]`` section."""


@dataclass(frozen=True)
class Config:
    """Hold the audit settings from one ``pyproject.toml`` (or the defaults)."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    root: Path | None = None
    source: Path | None = None


def load_config(start: str | Path) -> Config:
    """Return the settings that apply to ``start`` (a file or directory)."""
    for pyproject in _candidates(Path(start)):
        section = _section(pyproject)
        if section is not None:
            return _parse(section, pyproject)
    return Config()


def _candidates(start: Path) -> list[Path]:
    here = start.resolve()
    if not here.is_dir():
        here = here.parent
    return [d / "pyproject.toml" for d in (here, *here.parents) if (d / "pyproject.toml").is_file()]


def _section(pyproject: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{pyproject}: cannot read: {error}") from error
    section = data.get("tool", {}).get("sqlops", {}).get("audit")
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{pyproject}: [tool.sqlops.audit] must be a table")
    return section


def _parse(section: dict[str, Any], pyproject: Path) -> Config:
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{pyproject}: unknown key(s) in [tool.sqlops.audit]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_KEYS))})"
        )
    values = {key: _strings(section[key], key, pyproject) for key in section}
    return Config(
        select=values.get("select"),
        ignore=values.get("ignore", ()),
        exclude=values.get("exclude", ()),
        root=pyproject.parent,
        source=pyproject,
    )


def _strings(value: object, key: str, pyproject: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{pyproject}: [tool.sqlops.audit] {key} must be a list of strings")
    return tuple(value)
