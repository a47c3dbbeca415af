"""A throwaway project (pyproject.toml + a models package) and an empty database for it."""

from __future__ import annotations

import asyncio
import secrets
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from sqlops.testing._throwaway import create_database, drop_database

MODELS = """\
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqlops.models import NAMING_CONVENTION, IntPK, Timestamps, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Team(IntPK, Base):
    __tablename__ = "teams"
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Player(IntPK, Timestamps, Base):
    __tablename__ = "players"
    email: Mapped[str] = mapped_column(String(255), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
"""


def on(*backends: str) -> pytest.MarkDecorator:
    """Run a test on these backends only (each with its marker, like the root fixture)."""
    params = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in backends]
    return pytest.mark.parametrize("backend", params, indirect=True)


@dataclass
class Project:
    """A project directory whose models can be rewritten between steps."""

    root: Path
    package: str
    url: str

    @property
    def models(self) -> Path:
        return self.root / self.package / "models.py"

    def write_models(self, source: str) -> None:
        """Replace the models and forget the imported ones (a new CLI run would re-import)."""
        self.models.write_text(source)
        self.forget()

    def append_models(self, source: str) -> None:
        self.write_models(self.models.read_text() + textwrap.dedent(source))

    def forget(self) -> None:
        for name in [m for m in sys.modules if m.partition(".")[0] == self.package]:
            del sys.modules[name]


@pytest.fixture
def empty_url(backend: str, servers: Any, tmp_path: Path) -> Iterator[str]:
    """A URL of a brand-new database on ``backend`` (not shared with other tests)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        return
    server: URL = servers.url(backend)  # skips (or fails) when the server is unreachable
    url = asyncio.run(create_database(server))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture
def project(empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project in ``tmp_path`` (the current directory) configured by [tool.sqlops]."""
    package = f"app_{secrets.token_hex(4)}"
    root = tmp_path / "project"
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "models.py").write_text(MODELS)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\n\n[tool.sqlops]\nurl = "APP_DATABASE_URL"\n'
        f'metadata = "{package}.models:Base.metadata"\n'
    )
    monkeypatch.setenv("APP_DATABASE_URL", empty_url)
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "path", list(sys.path))  # Alembic prepends the project root
    found = Project(root=root, package=package, url=empty_url)
    yield found
    found.forget()
